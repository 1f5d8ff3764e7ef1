/*
 * ok.c - the control of the BIRCH_TYPED_TABLE compile-fail tests: uses
 * every wrapper with the right C types and must compile.  wrong_key.c and
 * wrong_value.c include this file after replacing one argument (CF_KEY or
 * CF_VALUE), so that they differ from it in that argument only and cannot
 * fail to compile for another reason.
 */
#include <stdint.h>

#include "birch.h"

typedef struct Customer {
    uint64_t id;
    char name[24];
} Customer;

typedef struct Order {
    uint64_t id;
    uint64_t customer;
    double total;
} Order;

BIRCH_POD_FORMAT(customer_format, Customer, 1);
BIRCH_TYPED_TABLE(customers, uint64_t, Customer, birch_key_u64, customer_format);

#ifndef CF_KEY
#define CF_KEY id
#endif
#ifndef CF_VALUE
#define CF_VALUE &c
#endif

int use_customers(birch_db *db);
int use_customers(birch_db *db)
{
    birch_typed t;
    int rc = customers_open(db, NULL, BIRCH_CREATE, &t);
    if (rc) return rc;
    uint64_t id = 7;
    Customer c = {7, "seven"};
    Order o = {1, 7, 2.5};
    (void)o;
    rc = customers_put(NULL, &t, CF_KEY, CF_VALUE);
    if (rc) return rc;
    customers_guard g = {0};
    rc = customers_get(NULL, &t, id, &g);
    if (rc == BIRCH_OK) {
        const Customer *v = customers_view(&g);
        rc = v->id == id ? BIRCH_OK : BIRCH_EFORMAT;
        customers_release(&g);
    }
    if (customers_contains(NULL, &t, id) != 1) return BIRCH_NOTFOUND;
    birch_stream *s;
    birch_stream_opts so = {0};
    if (customers_stream(NULL, &t, &so, &s) == BIRCH_OK) birch_stream_close(s);
    return customers_delete(NULL, &t, id) == 1 ? rc : BIRCH_NOTFOUND;
}
