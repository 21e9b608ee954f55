/*
 * abi_layout.c - prints the layout of every structure the Python binding
 * mirrors with ctypes (bindings/python/azroute/_capi.py), as the compiler
 * lays it out from <azroute/azroute.h>: one line per field,
 *
 *   STRUCT FIELD OFFSET SIZE
 *
 * and one "STRUCT sizeof SIZE" line per structure. tests/python/
 * test_binding.py compares them with the ctypes structures, so that a
 * field appended to (or changed in) the header cannot silently shift what
 * the binding reads or writes.
 */
#include <stddef.h>
#include <stdio.h>

#include <azroute/azroute.h>

#define FIELD(type, field)                                           \
    printf("%s %s %zu %zu\n", #type, #field, offsetof(type, field),  \
           sizeof(((type *)0)->field))
#define SIZE(type) printf("%s sizeof %zu 0\n", #type, sizeof(type))

int main(void)
{
    FIELD(azr_open_options, struct_size);
    FIELD(azr_open_options, plugin_dir);
    FIELD(azr_open_options, log);
    FIELD(azr_open_options, log_userdata);
    FIELD(azr_open_options, log_level);
    FIELD(azr_open_options, clock);
    FIELD(azr_open_options, random);
    FIELD(azr_open_options, source_userdata);
    FIELD(azr_open_options, az_id);
    FIELD(azr_open_options, push);
    FIELD(azr_open_options, push_userdata);
    SIZE(azr_open_options);

    FIELD(azr_node_info, index);
    FIELD(azr_node_info, id);
    FIELD(azr_node_info, host);
    FIELD(azr_node_info, port);
    FIELD(azr_node_info, az_id);
    FIELD(azr_node_info, az_name);
    FIELD(azr_node_info, role);
    FIELD(azr_node_info, weight);
    FIELD(azr_node_info, priority);
    FIELD(azr_node_info, same_az);
    FIELD(azr_node_info, az_source);
    FIELD(azr_node_info, present);
    SIZE(azr_node_info);

    FIELD(azr_pick_request, intent);
    FIELD(azr_pick_request, attempt);
    FIELD(azr_pick_request, excluded);
    FIELD(azr_pick_request, n_excluded);
    SIZE(azr_pick_request);

    FIELD(azr_az_info, known);
    FIELD(azr_az_info, az_id);
    FIELD(azr_az_info, source);
    FIELD(azr_az_info, from_cache);
    FIELD(azr_az_info, fetch_ms);
    FIELD(azr_az_info, expires_in_s);
    FIELD(azr_az_info, error);
    FIELD(azr_az_info, reason);
    SIZE(azr_az_info);

    FIELD(azr_reply, type);
    FIELD(azr_reply, integer);
    FIELD(azr_reply, dval);
    FIELD(azr_reply, len);
    FIELD(azr_reply, str);
    FIELD(azr_reply, vtype);
    FIELD(azr_reply, elements);
    FIELD(azr_reply, element);
    FIELD(azr_reply, attribute);
    SIZE(azr_reply);

    FIELD(azr_command, argc);
    FIELD(azr_command, argv);
    FIELD(azr_command, argvlen);
    SIZE(azr_command);

    FIELD(azr_exec_options, struct_size);
    FIELD(azr_exec_options, intent);
    FIELD(azr_exec_options, timeout_ms);
    FIELD(azr_exec_options, flags);
    SIZE(azr_exec_options);

    /* The constants the binding copies. */
    printf("const AZR_ERRBUF_SIZE %d 0\n", AZR_ERRBUF_SIZE);
    printf("const AZR_AZ_ID_MAX %d 0\n", AZR_AZ_ID_MAX);
    printf("const AZR_E_NOT_FOUND %d 0\n", (int)AZR_E_NOT_FOUND);
    printf("const AZR_E_CROSSSLOT %d 0\n", (int)AZR_E_CROSSSLOT);
    printf("const AZR_STATUS_CANCELLED %d 0\n", (int)AZR_STATUS_CANCELLED);
    printf("const AZR_REPLY_BLOB_ERROR %d 0\n", (int)AZR_REPLY_BLOB_ERROR);
    printf("const AZR_STATS_EMF %d 0\n", (int)AZR_STATS_EMF);
    printf("const AZR_EXEC_BLOCKING %u 0\n", AZR_EXEC_BLOCKING);
    return 0;
}
