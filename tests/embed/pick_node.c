/* pick_node - opens an azroute.ini, routes one read, prints the node id. */
#include <stdio.h>

#include <azroute/azroute.h>

int main(int argc, char **argv)
{
    char err[AZR_ERRBUF_SIZE];
    azr_ctx *ctx;
    azr_node_info node;
    size_t index;
    azr_code rc;

    if (argc != 2) {
        fprintf(stderr, "usage: pick_node CONFIG\n");
        return 2;
    }
    if ((rc = azr_open(&ctx, argv[1], err)) != AZR_OK) {
        fprintf(stderr, "pick_node: %s\n", err);
        return rc == AZR_E_CONFIG ? 2 : 1;
    }
    rc = azr_pick(ctx, AZR_INTENT_READ, &index);
    if (rc == AZR_OK)
        rc = azr_node_get(ctx, index, &node);
    if (rc != AZR_OK) {
        fprintf(stderr, "pick_node: %s\n", azr_strerror(rc));
        azr_close(ctx);
        return 1;
    }
    printf("%s\n", node.id);
    azr_close(ctx);
    return 0;
}
