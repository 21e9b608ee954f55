/*
 * reply.c - releasing RESP reply trees.
 *
 * The free is iterative and allocation-free, so that it works for any depth
 * (the reader bounds depth, but a caller may raise max_depth arbitrarily):
 * nodes waiting to be freed form a singly linked list threaded through
 * their `attribute` field, which is saved (pushed itself) before it is
 * overwritten.
 */
#include <stdlib.h>

#include <azroute/azroute.h>

/* Pushes `node`, then its attribute, then the attribute's attribute...
 * onto the list at *head. */
static void push(azr_reply **head, azr_reply *node)
{
    while (node != NULL) {
        azr_reply *attr = node->attribute;

        node->attribute = *head;
        *head = node;
        node = attr;
    }
}

void azr_reply_free(azr_reply *reply)
{
    azr_reply *head = NULL;

    push(&head, reply);
    while (head != NULL) {
        azr_reply *node = head;

        head = node->attribute;
        if (node->element != NULL) {
            for (size_t i = 0; i < node->elements; i++)
                push(&head, node->element[i]);
            free(node->element);
        }
        free(node->str);
        free(node);
    }
}
