/*
 * customer_store.c - a small customer database on birch's typed tables
 * (api/birch_typed.h).
 *
 *   ./customer_store [path]   (default: customer_store.birch in the current dir)
 *
 * Five tables in one file:
 *   customers  u64 id                      -> Customer (a C struct, stored as is)
 *   orders     (customer id, order id)     -> Order    (a C struct)
 *   settings   string                      -> string
 *   profiles   u64 customer id             -> Profile  (an archive: a string, a
 *                                             vector and an optional string)
 *   events     u64 event id                -> Event    (a FlatBuffers table)
 *
 * It creates, reads, updates and deletes records; lists one customer's
 * orders with a prefix scan; stores profiles and events with variable-size
 * members and reads them in place through guards and filtered streams;
 * inserts 1,000 customers, one durable commit each, and reads them back,
 * timing both; and queries "customers with revenue over X, the first 100"
 * as a stream with a filter and a limit.
 * Every run starts from an empty database.  Exits non-zero, with
 * birch_strerror's message, on any error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "birch.h"

/* ---- The records ------------------------------------------------------------ */

/* Values are plain C structs ("pod"): stored byte for byte and read in place,
 * as a correctly aligned `const Customer *` into the database map. */
typedef struct Customer {
    uint64_t id;
    char name[32];
    char email[48];
    double revenue;
    uint64_t created; /* seconds since 1970 */
} Customer;

typedef struct Order {
    uint64_t customer_id;
    uint64_t order_id;
    char item[32];
    uint32_t quantity;
    uint32_t status; /* 0 open, 1 shipped */
    double amount;
} Order;

/* The key of an order: a tuple.  Its encoding sorts by customer, then by
 * order, and the encoding of the first element alone is a prefix of every
 * key of that customer: one customer's orders are one range. */
typedef struct OrderKey {
    uint64_t customer;
    uint64_t order;
} OrderKey;

BIRCH_KEY_TUPLE(order_key_format, OrderKey, &birch_key_u64, customer, &birch_key_u64, order);

/* The value formats.  The last argument is our version of each struct's
 * layout: change it when the struct changes, and a file holding the old
 * layout refuses to open (BIRCH_ESCHEMA) instead of being misread. */
BIRCH_POD_FORMAT(customer_format, Customer, 1);
BIRCH_POD_FORMAT(order_format, Order, 1);

/* Type-safe wrappers: customers_put takes a uint64_t and a const Customer *,
 * customers_view returns a const Customer *, and so on. */
BIRCH_TYPED_TABLE(customers, uint64_t, Customer, birch_key_u64, customer_format);
BIRCH_TYPED_TABLE(orders, OrderKey, Order, order_key_format, order_format);

/* A profile has members of variable size, so it is an archive
 * (api/birch_archive.h): put takes a Profile_src (plain C, pointers to the
 * data), and a guard's view is a Profile_arch read in place, verified once
 * when the guard is taken (strings in bounds, NUL-terminated and UTF-8,
 * vectors in bounds and aligned).  The accessors Profile_<member>(view)
 * read the members. */
#define PROFILE_FIELDS(X)                                                        \
    X(u64, customer) X(string, headline) X(vec_u16, visit_days)                  \
    X(opt_string, website)
BIRCH_ARCHIVE(Profile, 1, PROFILE_FIELDS);
BIRCH_ARCHIVE_TABLE(profiles, uint64_t, Profile, birch_key_u64);

/* An event is a FlatBuffers table (api/birch_flatbuffers.h), declared with
 * macros instead of a .fbs file and flatc; the buffers are wire compatible
 * with flatc's.  Field ids as flatc would number them.  Events are built
 * with the builder (Event_start, Event_add_<field>, Event_end,
 * Event_finish) and read in place with Event_<field>(table). */
enum { EVENT_VISIT = 1, EVENT_PURCHASE = 2, EVENT_REFUND = 3 };
#define Event_FIELDS(_)                                                          \
    _(SCALAR, Event, customer, 0, u64, 0)                                        \
    _(SCALAR, Event, kind, 1, u8, 0)                                             \
    _(SCALAR, Event, amount, 2, f64, 0)                                          \
    _(STRING, Event, note, 3)                                                    \
    _(VECTOR_STRING, Event, labels, 4)
BIRCH_FB_TABLE(Event, "EVNT", Event_FIELDS);
/* The value format: put takes a birch_val holding a finished buffer (it is
 * verified, then copied in); a guard's view is the root table in place. */
BIRCH_FB_FORMAT(event_format, Event, 0);

/* settings uses the generic calls (birch_typed_put, birch_typed_get): its
 * key is a C string (birch_key_cstr: the C value is a const char *) and its
 * value UTF-8 text (birch_value_string: the C value is a birch_val, and a
 * guard's .bytes are the text). */

/* Reference figures for redb (another embedded store) doing the same: quoted
 * for comparison only, not measured here nor on this machine. */
#define REDB_INSERT_MS 1.77 /* per insert, one durable commit each */
#define REDB_READ_US 8.2    /* per read */

#define BULK_COUNT 1000
#define BULK_FIRST_ID 1000
#define EPOCH_BASE 1700000000u /* a fixed "created" base, so runs print the same */

/* ---- Error handling ----------------------------------------------------------- */

/* Every birch call returns BIRCH_OK (0) or a negative BIRCH_E* code (a few
 * typed calls return 1 or 0 for yes/no); this turns a failure into a message
 * naming the call, and a return of the code. */
#define TRY(call)                                                                \
    do {                                                                         \
        int rc_ = (call);                                                        \
        if (rc_ < 0) {                                                           \
            fprintf(stderr, "customer_store: %s failed: %s (%d)\n", #call,       \
                    birch_strerror(rc_), rc_);                                   \
            return rc_;                                                          \
        }                                                                        \
    } while (0)

/* A condition the example expects; BIRCH_ECORRUPT if it does not hold. */
#define EXPECT(cond)                                                             \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "customer_store: expected %s (line %d)\n", #cond,    \
                    __LINE__);                                                   \
            return BIRCH_ECORRUPT;                                               \
        }                                                                        \
    } while (0)

typedef struct store {
    birch_db *db;
    birch_typed customers;
    birch_typed orders;
    birch_typed settings;
    birch_typed profiles;
    birch_typed events;
} store;

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static Customer make_customer(uint64_t id, const char *name, const char *email, double revenue)
{
    Customer c;
    memset(&c, 0, sizeof c); /* the stored bytes include the padding: keep it zero */
    c.id = id;
    snprintf(c.name, sizeof c.name, "%s", name);
    snprintf(c.email, sizeof c.email, "%s", email);
    c.revenue = revenue;
    c.created = EPOCH_BASE + id;
    return c;
}

static Order make_order(uint64_t customer, uint64_t order, const char *item, uint32_t quantity,
                        double amount)
{
    Order o;
    memset(&o, 0, sizeof o);
    o.customer_id = customer;
    o.order_id = order;
    snprintf(o.item, sizeof o.item, "%s", item);
    o.quantity = quantity;
    o.amount = amount;
    return o;
}

static void print_customer(const char *prefix, const Customer *c)
{
    printf("%s#%" PRIu64 " %s <%s> revenue %.2f\n", prefix, c->id, c->name, c->email, c->revenue);
}

/* ---- Opening --------------------------------------------------------------------- */

static int open_store(const char *path, store *s)
{
    birch_options opts;
    birch_options_init(&opts);
    opts.recreate = BIRCH_RECREATE_ALWAYS; /* start from an empty database every run */
    TRY(birch_open(path, &opts, &s->db));

    /* Open (and create) the five tables in one write transaction: one
     * commit.  Each typed open checks the table's stored formats against
     * ours; the handles stay valid until birch_close. */
    birch_txn *txn;
    TRY(birch_txn_begin(s->db, BIRCH_TXN_WRITE, &txn));
    int rc = customers_open(s->db, txn, BIRCH_CREATE, &s->customers);
    if (rc == BIRCH_OK) rc = orders_open(s->db, txn, BIRCH_CREATE, &s->orders);
    if (rc == BIRCH_OK)
        rc = birch_typed_open(s->db, txn, "settings", &birch_key_cstr, &birch_value_string,
                              BIRCH_CREATE, &s->settings);
    if (rc == BIRCH_OK) rc = profiles_open(s->db, txn, BIRCH_CREATE, &s->profiles);
    if (rc == BIRCH_OK)
        rc = birch_typed_open(s->db, txn, "events", &birch_key_u64, &event_format, BIRCH_CREATE,
                              &s->events);
    if (rc != BIRCH_OK) {
        birch_txn_abort(txn);
        TRY(rc);
    }
    TRY(birch_txn_commit(txn));
    return BIRCH_OK;
}

/* ---- Create, read, update, delete ------------------------------------------------ */

static int customers_crud(store *s)
{
    printf("\n== customers: create, read, update, delete\n");
    const Customer people[] = {
        make_customer(1, "Ada Lovelace", "ada@example.com", 12500.00),
        make_customer(2, "Charles Babbage", "charles@example.com", 830.50),
        make_customer(3, "Grace Hopper", "grace@example.com", 40210.75),
    };
    /* txn NULL: each put is a transaction of its own, committed (durably)
     * before the call returns. */
    for (size_t i = 0; i < sizeof people / sizeof people[0]; i++) {
        TRY(customers_put(NULL, &s->customers, people[i].id, &people[i]));
        print_customer("created ", &people[i]);
    }

    /* Read: a guard holds the value in place (no copy) and keeps its
     * snapshot readable until released. */
    customers_guard g;
    TRY(customers_get(NULL, &s->customers, 2, &g));
    const Customer *c = customers_view(&g);
    print_customer("read    ", c);
    Customer changed = *c; /* copy it to change it */
    customers_release(&g);

    /* Update: put the changed struct under the same key. */
    changed.revenue += 1000.00;
    snprintf(changed.email, sizeof changed.email, "babbage@example.org");
    TRY(customers_put(NULL, &s->customers, changed.id, &changed));
    TRY(customers_get(NULL, &s->customers, 2, &g));
    print_customer("updated ", customers_view(&g));
    int same = customers_view(&g)->revenue == 1830.50;
    customers_release(&g);
    EXPECT(same);

    /* Delete: 1 if the key existed, 0 if not. */
    int deleted;
    TRY(deleted = customers_delete(NULL, &s->customers, 3));
    EXPECT(deleted == 1);
    int present;
    TRY(present = customers_contains(NULL, &s->customers, 3));
    EXPECT(present == 0);
    int rc = customers_get(NULL, &s->customers, 3, &g);
    EXPECT(rc == BIRCH_NOTFOUND); /* nothing to release after an error */
    printf("deleted #3; get #3 -> %s\n", birch_strerror(rc));
    return BIRCH_OK;
}

static int settings_crud(store *s)
{
    printf("\n== settings: string -> string\n");
    static const char *const pairs[][2] = {
        {"currency", "EUR"}, {"locale", "en_GB"}, {"theme", "dark"}};
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        const char *key = pairs[i][0];
        birch_val value = {pairs[i][1], strlen(pairs[i][1])};
        TRY(birch_typed_put(NULL, &s->settings, &key, &value, 0));
    }
    const char *key = "theme";
    birch_val value = {"light", 5};
    TRY(birch_typed_put(NULL, &s->settings, &key, &value, 0)); /* update */

    /* Read them all back in key order with a stream: item->key points to
     * the decoded C key (a const char *), item->bytes is the text. */
    birch_stream_opts all = {0};
    birch_stream *st;
    birch_item item;
    int rc;
    TRY(birch_stream_open(NULL, &s->settings, &all, &st));
    while ((rc = birch_stream_next(st, &item)) == BIRCH_OK)
        printf("  %s = %.*s\n", *(const char *const *)item.key, (int)item.bytes.size,
               (const char *)item.bytes.data);
    birch_stream_close(st);
    EXPECT(rc == BIRCH_NOTFOUND); /* the end of the stream */

    key = "locale";
    int deleted;
    TRY(deleted = birch_typed_delete(NULL, &s->settings, &key));
    EXPECT(deleted == 1);
    birch_guard g;
    rc = birch_typed_get(NULL, &s->settings, &key, &g);
    EXPECT(rc == BIRCH_NOTFOUND);
    key = "currency";
    TRY(birch_typed_get(NULL, &s->settings, &key, &g));
    printf("deleted locale; currency = %.*s\n", (int)g.bytes.size, (const char *)g.bytes.data);
    birch_guard_release(&g);
    return BIRCH_OK;
}

/* ---- Orders: a transaction, and a prefix scan ------------------------------------- */

static int orders_of_customer(store *s)
{
    printf("\n== orders: (customer id, order id) -> Order\n");
    const Order list[] = {
        make_order(1, 101, "analytical engine manual", 1, 49.90),
        make_order(1, 102, "punched cards (box)", 4, 79.60),
        make_order(2, 201, "difference engine gears", 12, 310.00),
        make_order(1, 103, "brass crank", 1, 15.25),
        make_order(4, 401, "nothing in particular", 1, 1.00),
    };
    /* Many writes in one write transaction: one commit, all or nothing. */
    birch_txn *txn;
    TRY(birch_txn_begin(s->db, BIRCH_TXN_WRITE, &txn));
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        OrderKey k = {list[i].customer_id, list[i].order_id};
        int rc = orders_put(txn, &s->orders, k, &list[i]);
        if (rc != BIRCH_OK) {
            birch_txn_abort(txn);
            TRY(rc);
        }
    }
    TRY(birch_txn_commit(txn));
    printf("stored %zu orders in one transaction\n", sizeof list / sizeof list[0]);

    /* One order by its full key; then cancel (delete) another. */
    orders_guard g;
    TRY(orders_get(NULL, &s->orders, (OrderKey){2, 201}, &g));
    const Order *ord = orders_view(&g);
    printf("order (2, 201): %s x%u, %.2f\n", ord->item, ord->quantity, ord->amount);
    orders_release(&g);
    int deleted, present;
    TRY(deleted = orders_delete(NULL, &s->orders, (OrderKey){4, 401}));
    TRY(present = orders_contains(NULL, &s->orders, (OrderKey){4, 401}));
    EXPECT(deleted == 1 && present == 0);
    printf("cancelled order (4, 401)\n");

    /* Customer 1's orders: the keys whose first tuple element is 1. */
    OrderKey prefix = {1, 0}; /* only .customer is read */
    birch_stream_opts o = {0};
    o.prefix = &prefix;
    o.prefix_len = 1;
    birch_stream *st;
    birch_item item;
    int rc, n = 0;
    double total = 0;
    TRY(orders_stream(NULL, &s->orders, &o, &st));
    printf("orders of customer 1 (prefix scan):\n");
    while ((rc = birch_stream_next(st, &item)) == BIRCH_OK) {
        const OrderKey *k = item.key;
        const Order *ord = item.view;
        printf("  (%" PRIu64 ", %" PRIu64 ") %-26s x%-3u %8.2f\n", k->customer, k->order, ord->item,
               ord->quantity, ord->amount);
        total += ord->amount;
        n++;
    }
    birch_stream_close(st);
    EXPECT(rc == BIRCH_NOTFOUND);
    EXPECT(n == 3);
    printf("  %d orders, %.2f in total\n", n, total);
    return BIRCH_OK;
}

/* ---- Profiles: an archive with a string, a vector and an optional member ------------ */

static int has_website(const birch_item *item, void *ctx)
{
    (void)ctx;
    return Profile_has_website(item->view); /* item->view: a verified Profile_arch */
}

static int profiles_archive(store *s)
{
    printf("\n== profiles: u64 -> Profile (an archive)\n");
    static const uint16_t ada_days[] = {3, 17, 18, 29};
    static const uint16_t charles_days[] = {5};
    Profile_src list[] = {
        {.customer = 1,
         .headline = {"Poet of numbers", 15},
         .visit_days = {ada_days, sizeof ada_days / sizeof ada_days[0]},
         .website = {"https://ada.example.com", 23}},
        {.customer = 2,
         .headline = {"Engines, difference and analytical", 34},
         .visit_days = {charles_days, 1},
         .website = {NULL, 0}}, /* optional: absent */
        {.customer = 4,
         .headline = {"", 0},
         .visit_days = {NULL, 0}, /* an empty vector */
         .website = {"https://example.org/~four", 25}},
    };
    birch_txn *txn;
    TRY(birch_txn_begin(s->db, BIRCH_TXN_WRITE, &txn));
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        int rc = profiles_put(txn, &s->profiles, list[i].customer, &list[i]);
        if (rc != BIRCH_OK) {
            birch_txn_abort(txn);
            TRY(rc);
        }
    }
    TRY(birch_txn_commit(txn));
    printf("stored %zu profiles\n", sizeof list / sizeof list[0]);

    /* Read one in place: the members are read where they are stored. */
    profiles_guard g;
    TRY(profiles_get(NULL, &s->profiles, 1, &g));
    const Profile_arch *p = profiles_view(&g);
    birch_val headline = Profile_headline(p); /* NUL-terminated, in the map */
    birch_vec_u16 days = Profile_visit_days(p);
    printf("profile #%" PRIu64 ": \"%s\", %zu visits (days", Profile_customer(p),
           (const char *)headline.data, days.len);
    for (size_t i = 0; i < days.len; i++) printf(" %u", (unsigned)days.data[i]);
    printf("), website %s\n",
           Profile_has_website(p) ? (const char *)Profile_website(p).data : "(none)");
    int ok = Profile_customer(p) == 1 && days.len == 4 && days.data[3] == 29;
    profiles_release(&g);
    EXPECT(ok);

    TRY(profiles_get(NULL, &s->profiles, 2, &g));
    int absent = !Profile_has_website(profiles_view(&g));
    profiles_release(&g);
    EXPECT(absent);

    /* A stream with a filter on the archived view: profiles with a website. */
    birch_stream_opts o = {0};
    o.filter = has_website;
    birch_stream *st;
    birch_item item;
    int rc, n = 0;
    TRY(profiles_stream(NULL, &s->profiles, &o, &st));
    printf("profiles with a website:\n");
    while ((rc = birch_stream_next(st, &item)) == BIRCH_OK) {
        const Profile_arch *q = item.view;
        printf("  #%" PRIu64 " %s\n", Profile_customer(q), (const char *)Profile_website(q).data);
        n++;
    }
    birch_stream_close(st);
    EXPECT(rc == BIRCH_NOTFOUND);
    EXPECT(n == 2);
    return BIRCH_OK;
}

/* ---- Events: FlatBuffers values ------------------------------------------------------- */

/* Builds one event into b; *out points into b until its next reset. */
static int build_event(birch_fb_builder *b, uint64_t customer, uint8_t kind, double amount,
                       const char *note, const char *const *labels, size_t nlabels,
                       birch_val *out)
{
    birch_fb_builder_reset(b);
    /* Strings and vectors first, then the table that refers to them. */
    birch_fb_ref refs[4];
    if (nlabels > sizeof refs / sizeof refs[0]) return BIRCH_EINVAL;
    for (size_t i = 0; i < nlabels; i++) refs[i] = birch_fb_cstring(b, labels[i]);
    birch_fb_ref vlabels = nlabels ? Event_vec_labels(b, refs, nlabels) : 0;
    birch_fb_ref vnote = note ? birch_fb_cstring(b, note) : 0;
    Event_start(b);
    Event_add_customer(b, customer);
    Event_add_kind(b, kind);
    Event_add_amount(b, amount);
    Event_add_note(b, vnote);     /* 0: absent */
    Event_add_labels(b, vlabels);
    /* Errors are sticky: finish returns the first one. */
    return Event_finish(b, Event_end(b), 0, out);
}

/* The filter: purchases of at least *ctx. */
static int large_purchase(const birch_item *item, void *ctx)
{
    const Event_table *e = item->view; /* verified, in place */
    return Event_kind(e) == EVENT_PURCHASE && Event_amount(e) >= *(const double *)ctx;
}

static int events_flatbuffers(store *s)
{
    printf("\n== events: u64 -> Event (FlatBuffers)\n");
    static const char *const web[] = {"web"};
    static const char *const shop[] = {"shop", "gift"};
    static const struct {
        uint64_t id, customer;
        uint8_t kind;
        double amount;
        const char *note;
        const char *const *labels;
        size_t nlabels;
    } list[] = {
        {1, 1, EVENT_VISIT, 0, NULL, web, 1},
        {2, 1, EVENT_PURCHASE, 129.15, "manual and cards", web, 1},
        {3, 2, EVENT_PURCHASE, 310.00, "gears", shop, 2},
        {4, 2, EVENT_REFUND, -40.00, "one gear was bent", NULL, 0},
        {5, 1, EVENT_PURCHASE, 15.25, NULL, shop, 1},
    };
    birch_fb_builder *b = birch_fb_builder_new();
    if (b == NULL) TRY(BIRCH_ENOMEM);
    birch_txn *txn;
    int rc = birch_txn_begin(s->db, BIRCH_TXN_WRITE, &txn);
    for (size_t i = 0; rc == BIRCH_OK && i < sizeof list / sizeof list[0]; i++) {
        birch_val buf;
        rc = build_event(b, list[i].customer, list[i].kind, list[i].amount, list[i].note,
                         list[i].labels, list[i].nlabels, &buf);
        if (rc == BIRCH_OK) rc = birch_typed_put(txn, &s->events, &list[i].id, &buf, 0);
        if (rc != BIRCH_OK) birch_txn_abort(txn);
    }
    birch_fb_builder_free(b);
    TRY(rc);
    TRY(birch_txn_commit(txn));
    printf("stored %zu events\n", sizeof list / sizeof list[0]);

    /* One event through a guard: Event_view gives the root table, read in
     * place; absent fields read as their defaults (or NULL). */
    uint64_t id = 3;
    birch_guard g;
    TRY(birch_typed_get(NULL, &s->events, &id, &g));
    const Event_table *e = Event_view(&g);
    printf("event 3: customer %" PRIu64 ", kind %u, %.2f, note \"%s\", labels", Event_customer(e),
           (unsigned)Event_kind(e), Event_amount(e), Event_note(e) ? Event_note(e) : "");
    for (size_t i = 0; i < Event_labels_len(e); i++) printf(" %s", Event_labels_at(e, i));
    printf("\n");
    int ok = Event_customer(e) == 2 && Event_labels_len(e) == 2;
    birch_guard_release(&g);
    EXPECT(ok);

    /* A stream with a filter on the FlatBuffers view. */
    double at_least = 100.00;
    birch_stream_opts o = {0};
    o.filter = large_purchase;
    o.filter_ctx = &at_least;
    birch_stream *st;
    birch_item item;
    int n = 0;
    TRY(birch_stream_open(NULL, &s->events, &o, &st));
    printf("purchases of at least %.2f:\n", at_least);
    while ((rc = birch_stream_next(st, &item)) == BIRCH_OK) {
        const Event_table *ev = item.view;
        printf("  event %" PRIu64 ": customer %" PRIu64 ", %.2f (%s)\n",
               *(const uint64_t *)item.key, Event_customer(ev), Event_amount(ev),
               Event_note(ev) ? Event_note(ev) : "no note");
        n++;
    }
    birch_stream_close(st);
    EXPECT(rc == BIRCH_NOTFOUND);
    EXPECT(n == 2);
    return BIRCH_OK;
}

/* ---- 1,000 single-commit inserts and reads, timed ---------------------------------- */

static double bulk_revenue(uint64_t i)
{
    return (double)((i * 7919u) % 10000u) + (double)((i * 31u) % 100u) / 100.0;
}

static int timed_inserts_and_reads(store *s)
{
    printf("\n== %d customers: one durable commit per insert, then %d reads\n", BULK_COUNT,
           BULK_COUNT);
    double t0 = now_seconds();
    for (uint64_t i = 0; i < BULK_COUNT; i++) {
        uint64_t id = BULK_FIRST_ID + i;
        char name[32], email[48];
        snprintf(name, sizeof name, "Customer %04" PRIu64, id);
        snprintf(email, sizeof email, "customer%" PRIu64 "@example.com", id);
        Customer c = make_customer(id, name, email, bulk_revenue(i));
        TRY(customers_put(NULL, &s->customers, id, &c)); /* commits, and syncs */
    }
    double t1 = now_seconds();

    double sum = 0;
    for (uint64_t i = 0; i < BULK_COUNT; i++) {
        uint64_t id = BULK_FIRST_ID + i;
        customers_guard g;
        TRY(customers_get(NULL, &s->customers, id, &g));
        const Customer *c = customers_view(&g);
        int ok = c->id == id && c->revenue == bulk_revenue(i);
        sum += c->revenue;
        customers_release(&g);
        EXPECT(ok);
    }
    double t2 = now_seconds();

    double insert_ms = (t1 - t0) * 1e3 / BULK_COUNT;
    double read_us = (t2 - t1) * 1e6 / BULK_COUNT;
    printf("read back all %d (revenue total %.2f)\n", BULK_COUNT, sum);
    printf("                    birch (measured)   redb (reference figure, not measured)\n");
    printf("  per insert        %9.3f ms       %9.3f ms\n", insert_ms, REDB_INSERT_MS);
    printf("  per read          %9.3f us       %9.3f us\n", read_us, REDB_READ_US);
    printf("  (inserts: typed put with txn NULL, one durable commit each;\n"
           "   reads: typed get with txn NULL, guard, release;\n"
           "   the redb figures are constants quoted for comparison, not measured here)\n");
    return BIRCH_OK;
}

/* ---- A query: a stream with a filter and a limit ------------------------------------ */

static int revenue_over(const birch_item *item, void *ctx)
{
    const Customer *c = item->view; /* verified, in place */
    return c->revenue > *(const double *)ctx;
}

static int query_top_revenue(store *s)
{
    double threshold = 5000.00;
    printf("\n== query: customers with revenue over %.2f, the first 100\n", threshold);
    birch_stream_opts o = {0};
    o.filter = revenue_over;
    o.filter_ctx = &threshold;
    o.limit = 100;
    birch_stream *st;
    birch_item item;
    int rc, n = 0, below = 0;
    TRY(customers_stream(NULL, &s->customers, &o, &st));
    while ((rc = birch_stream_next(st, &item)) == BIRCH_OK) {
        const Customer *c = item.view;
        below += c->revenue <= threshold; /* the filter should have dropped it */
        if (n < 5) print_customer("  ", c);
        else if (n == 5) printf("  ...\n");
        n++;
    }
    birch_stream_close(st);
    EXPECT(rc == BIRCH_NOTFOUND); /* the end: the limit, or no more records */
    EXPECT(below == 0);
    printf("  %d customers returned (limit 100)\n", n);
    EXPECT(n == 100);

    uint64_t total;
    birch_txn *txn;
    TRY(birch_txn_begin(s->db, BIRCH_TXN_READ, &txn));
    rc = birch_count(txn, s->customers.table, &total);
    birch_txn_abort(txn);
    TRY(rc);
    printf("  (of %" PRIu64 " customers in the table)\n", total);
    return BIRCH_OK;
}

/* ---- main ------------------------------------------------------------------------------ */

static int run(const char *path, store *s)
{
    printf("birch %s: customer store in %s (recreated empty)\n", birch_version(), path);
    TRY(open_store(path, s));
    TRY(customers_crud(s));
    TRY(settings_crud(s));
    TRY(orders_of_customer(s));
    TRY(profiles_archive(s));
    TRY(events_flatbuffers(s));
    TRY(timed_inserts_and_reads(s));
    TRY(query_top_revenue(s));

    char msg[256] = "";
    int rc = birch_check(s->db, msg, sizeof msg);
    if (rc != BIRCH_OK) {
        fprintf(stderr, "customer_store: birch_check: %s: %s\n", birch_strerror(rc), msg);
        return rc;
    }
    printf("\nbirch_check: %s\n", msg);
    return BIRCH_OK;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "customer_store.birch";
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep output and errors in order in logs */

    store s;
    memset(&s, 0, sizeof s);
    int rc = run(path, &s);
    if (s.db != NULL) {
        int crc = birch_close(s.db);
        if (rc == BIRCH_OK && crc != BIRCH_OK) {
            fprintf(stderr, "customer_store: birch_close: %s\n", birch_strerror(crc));
            rc = crc;
        }
    }
    if (rc == BIRCH_OK) printf("done\n");
    return rc == BIRCH_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
