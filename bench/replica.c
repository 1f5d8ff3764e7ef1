/*
 * replica.c - issue 16's replication run: durable commits of write batches
 * through birch-replica processes on this machine, against one birch and
 * one LMDB committing the same batches with full durability, against
 * one-node Raft and against the raw limit; then the time a node wiped
 * after RECORDS records takes to catch up (by a snapshot install).
 *
 *   birch-bench-replica [--batches N] [--puts K] [--clients LIST] [--repeat R]
 *                       [--records N] [--ways LIST] [--quick] [--dir DIR]
 *                       [--port BASE] [--server PATH]
 *
 * Every way commits the same N batches (default 2,000; --quick 100) of K
 * puts (default 100) of random 16-byte keys (hex) and 100-byte values,
 * from C clients at once (each client count of LIST, default "1,8"; the
 * batches are dealt out in turn), on a fresh database, R times (default 3;
 * --quick 1) in rotated order; each figure is the median of its R runs, in
 * batches per second, each batch durable when its client hears of it:
 *
 *   raw     write + fdatasync of the encoded batch (birch_batch_bytes) to
 *           a file per client: the physical limit of one durable append
 *   lmdb    mdb_txn_begin, K mdb_put, mdb_txn_commit (default flags:
 *           synced), one environment, C threads
 *   birch   birch_txn_begin, K birch_put, birch_txn_commit
 *           (BIRCH_DURABLE_FULL), one handle, C threads
 *   raft1   birch-replica alone (a one-node cluster): "mput t K1 V1 ..."
 *           lines on C connections, each batch acknowledged ("OK INDEX")
 *           once it is in the node's synced Raft log and applied
 *   raft3   three birch-replica processes: the same lines to the leader,
 *           acknowledged once a majority synced the entry and the leader
 *           applied it
 *
 * Writers of one database take turns (one write transaction at a time),
 * so lmdb and birch gain nothing from more clients; Raft appends the
 * entries that wait together in one write and one sync, so the clusters
 * do.  Nodes run with their defaults (the database BIRCH_DURABLE_NONE: the
 * Raft log is what makes a batch durable, docs/DESIGN.md 23.3; a snapshot
 * every 1,024 entries).  After each Raft run every node must hold the
 * first and the last batch's records; after each lmdb and birch run the
 * database must count N * K records.
 *
 * catchup (in --ways; default on): a fresh three-node cluster is loaded
 * with RECORDS records (default 1,000,000; --quick 20,000) in batches of
 * K from the largest client count (nodes with their default snapshot
 * threshold, 1,024 entries; under 4,096 batches, a quarter of them); once every node applied them all, a
 * follower is killed (SIGKILL), its directory removed and the node started
 * again, while a put goes to the leader every 100 ms (a cluster in use;
 * libraft 0.15 sends a follower the entries after an installed snapshot
 * only with a next entry): the time until it has installed a snapshot
 * (the leader's log no longer holds the first entries; the status line's
 * restored count says it did) and until its database has applied the
 * leader's last entry of the load is the catch-up.
 *
 * The nodes' logs and directories are under DIR/replica (default
 * build/bench/results); the figures go to stdout and DIR/replica.md.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <lmdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "birch.h"

#define KEY_SIZE 16
#define VALUE_SIZE 100
#define MAX_CLIENTS 64
#define MAX_COUNTS 8
#define MAX_REPEAT 25
#define NODES 3

enum { RAW, LMDB, BIRCH, RAFT1, RAFT3, N_WAYS };
static const char *const way_names[N_WAYS] = {"raw", "lmdb", "birch", "raft1", "raft3"};
static const char *const way_titles[N_WAYS] = {
    "raw write + fdatasync", "lmdb (synced)", "birch FULL", "1-node Raft", "3-node Raft"};

static struct {
    uint64_t batches, puts, records;
    int repeat;
    int counts[MAX_COUNTS], n_counts;
    int ways[N_WAYS], catchup;
    const char *dir, *server;
    int port;
} opt = {2000, 100, 1000000, 3, {1, 8}, 2, {1, 1, 1, 1, 1}, 1, "build/bench/results",
         BENCH_REPLICA_SERVER, 0};

static _Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("birch-bench-replica: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        die("cannot remove %s: %s", path, strerror(errno));
    return 0;
}

static void rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fresh_dir(const char *path)
{
    rmtree(path);
    if (mkdir(path, 0755) != 0)
        die("cannot create %s: %s", path, strerror(errno));
}

/* ---- The workload ---------------------------------------------------------------- */

/* Record p of batch b: a 16-hex-digit key from a mix of its number, and a
 * value of 100 letters derived from the key (so a reader can check it). */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void record(uint64_t b, uint64_t p, char key[KEY_SIZE], char val[VALUE_SIZE])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t k = mix(b * opt.puts + p);
    for (int i = 0; i < KEY_SIZE; i++)
        key[i] = hex[(k >> (4 * i)) & 15];
    uint64_t v = k;
    for (int i = 0; i < VALUE_SIZE; i++) {
        if (i % 12 == 0)
            v = mix(v);
        val[i] = (char)('a' + (v >> (5 * (i % 12))) % 26);
    }
}

/* ---- One run: C clients commit the batches dealt to them ------------------------- */

typedef struct run run;
typedef struct client {
    run *r;
    int index;
    pthread_t thread;
    uint64_t retries;
} client;

struct run {
    int way, clients;
    uint64_t batches; /* in all */
    char dir[4096];
    /* birch */
    birch_db *db;
    birch_table *table;
    /* lmdb */
    MDB_env *env;
    MDB_dbi dbi;
    /* raft */
    int nodes, base;
    unsigned snapshot_threshold; /* the nodes' --snapshot-threshold; 0: their default */
    pid_t pid[NODES + 1];
    client client[MAX_CLIENTS];
};

static void *raw_client(void *arg)
{
    client *c = arg;
    run *r = c->r;
    char path[4200], key[KEY_SIZE], val[VALUE_SIZE];
    snprintf(path, sizeof path, "%s/raw-%d", r->dir, c->index);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        die("open %s: %s", path, strerror(errno));
    birch_batch batch;
    birch_batch_init(&batch);
    for (uint64_t b = (uint64_t)c->index; b < r->batches; b += (uint64_t)r->clients) {
        birch_batch_clear(&batch);
        for (uint64_t p = 0; p < opt.puts; p++) {
            record(b, p, key, val);
            if (birch_batch_put(&batch, "t", (birch_val){key, KEY_SIZE}, (birch_val){val, VALUE_SIZE}))
                die("birch_batch_put: %s", birch_errmsg());
        }
        birch_val bytes;
        if (birch_batch_bytes(&batch, &bytes))
            die("birch_batch_bytes: %s", birch_errmsg());
        if (write(fd, bytes.data, bytes.size) != (ssize_t)bytes.size || fdatasync(fd) != 0)
            die("write %s: %s", path, strerror(errno));
    }
    birch_batch_free(&batch);
    close(fd);
    return NULL;
}

static void ok(int rc, const char *what)
{
    if (rc != BIRCH_OK)
        die("%s: %s (%s)", what, birch_strerror(rc), birch_errmsg());
}

static void *birch_client(void *arg)
{
    client *c = arg;
    run *r = c->r;
    char key[KEY_SIZE], val[VALUE_SIZE];
    for (uint64_t b = (uint64_t)c->index; b < r->batches; b += (uint64_t)r->clients) {
        birch_txn *txn;
        ok(birch_txn_begin(r->db, BIRCH_TXN_WRITE, &txn), "birch_txn_begin");
        for (uint64_t p = 0; p < opt.puts; p++) {
            record(b, p, key, val);
            ok(birch_put(txn, r->table, (birch_val){key, KEY_SIZE}, (birch_val){val, VALUE_SIZE}, 0),
                        "birch_put");
        }
        ok(birch_txn_commit(txn), "birch_txn_commit");
    }
    return NULL;
}

static void lmdb_check(int rc, const char *what)
{
    if (rc != MDB_SUCCESS)
        die("%s: %s", what, mdb_strerror(rc));
}

static void *lmdb_client(void *arg)
{
    client *c = arg;
    run *r = c->r;
    char key[KEY_SIZE], val[VALUE_SIZE];
    for (uint64_t b = (uint64_t)c->index; b < r->batches; b += (uint64_t)r->clients) {
        MDB_txn *txn;
        lmdb_check(mdb_txn_begin(r->env, NULL, 0, &txn), "mdb_txn_begin");
        for (uint64_t p = 0; p < opt.puts; p++) {
            record(b, p, key, val);
            MDB_val k = {KEY_SIZE, key}, v = {VALUE_SIZE, val};
            lmdb_check(mdb_put(txn, r->dbi, &k, &v, 0), "mdb_put");
        }
        lmdb_check(mdb_txn_commit(txn), "mdb_txn_commit");
    }
    return NULL;
}

/* ---- birch-replica processes ------------------------------------------------------ */

static int raft_port(const run *r, int i) { return r->base + i; }
static int client_port(const run *r, int i) { return r->base + 4 + i; }

/* A connection to a node's client port, or -1. */
static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {60, 0}; /* a node that stops answering fails the run */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads one reply line (without its newline) into line; -1 on a closed
 * connection or a timeout.  Replies here are one line each. */
static int read_line(int fd, char *line, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char ch;
        ssize_t got = recv(fd, &ch, 1, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        if (ch == '\n')
            break;
        if (n + 1 < cap)
            line[n++] = ch;
    }
    line[n] = 0;
    return 0;
}

/* One request, one reply line; -1 if the node is not there. */
static int ask(int port, const char *req, char *line, size_t cap)
{
    int fd = dial(port);
    if (fd < 0)
        return -1;
    int rc = send_all(fd, req, strlen(req));
    if (rc == 0)
        rc = read_line(fd, line, cap);
    close(fd);
    return rc;
}

/* A number field "name=123" of a status line, or 0. */
static uint64_t field(const char *line, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof pat, " %s=", name);
    const char *p = strstr(line, pat);
    return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

static int status(const run *r, int i, char *line, size_t cap)
{
    return ask(client_port(r, i), "status\n", line, cap);
}

static void node_start(run *r, int i)
{
    char dir[4200], log[4200], id[16], rport[32], cport[32], peers[NODES][32];
    snprintf(dir, sizeof dir, "%s/n%d", r->dir, i);
    snprintf(log, sizeof log, "%s/log%d", r->dir, i);
    snprintf(id, sizeof id, "%d", i);
    snprintf(rport, sizeof rport, "127.0.0.1:%d", raft_port(r, i));
    snprintf(cport, sizeof cport, "127.0.0.1:%d", client_port(r, i));
    const char *argv[32];
    int n = 0;
    argv[n++] = opt.server;
    argv[n++] = "--id", argv[n++] = id;
    argv[n++] = "--cluster", argv[n++] = "bench";
    argv[n++] = "--dir", argv[n++] = dir;
    argv[n++] = "--raft", argv[n++] = rport;
    argv[n++] = "--client", argv[n++] = cport;
    argv[n++] = "--max-line", argv[n++] = "16777216";
    argv[n++] = "--max-batch", argv[n++] = "16777216";
    for (int p = 1; p <= r->nodes; p++) {
        snprintf(peers[p - 1], sizeof peers[p - 1], "%d=127.0.0.1:%d", p, raft_port(r, p));
        argv[n++] = "--peer", argv[n++] = peers[p - 1];
    }
    char threshold[16], trailing[16];
    if (r->snapshot_threshold) {
        snprintf(threshold, sizeof threshold, "%u", r->snapshot_threshold);
        snprintf(trailing, sizeof trailing, "%u", r->snapshot_threshold / 8 + 1);
        argv[n++] = "--snapshot-threshold", argv[n++] = threshold;
        argv[n++] = "--snapshot-trailing", argv[n++] = trailing;
    }
    argv[n] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(opt.server, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", opt.server, strerror(errno));
        _exit(127);
    }
    r->pid[i] = pid;
    for (int tries = 0; tries < 200; tries++) {
        int fd = dial(client_port(r, i));
        if (fd >= 0) {
            close(fd);
            return;
        }
        if (waitpid(pid, NULL, WNOHANG) == pid)
            die("node %d exited at start (see %s)", i, log);
        sleep_ms(50);
    }
    die("node %d does not listen on %d (see %s)", i, client_port(r, i), log);
}

static void node_stop(run *r, int i, int sig)
{
    if (r->pid[i] > 0) {
        kill(r->pid[i], sig);
        waitpid(r->pid[i], NULL, 0);
        r->pid[i] = 0;
    }
}

/* The leader's node number, waiting up to 20 s for one. */
static int find_leader(const run *r)
{
    char line[1024];
    for (int tries = 0; tries < 400; tries++) {
        for (int i = 1; i <= r->nodes; i++)
            if (status(r, i, line, sizeof line) == 0 && strstr(line, " state=leader "))
                return i;
        sleep_ms(50);
    }
    die("no leader after 20 s (logs in %s)", r->dir);
}

/* Waits (up to 10 minutes) until node i's database has applied index. */
static void wait_applied(const run *r, int i, uint64_t index, uint64_t *restored)
{
    char line[1024];
    for (int tries = 0; tries < 60000; tries++) {
        if (status(r, i, line, sizeof line) == 0 && field(line, "db_applied") >= index) {
            if (restored)
                *restored = field(line, "restored");
            return;
        }
        sleep_ms(10);
    }
    die("node %d has not applied %" PRIu64 " after 10 minutes (logs in %s)", i, index, r->dir);
}

/* The line of batch b: "mput t K1 V1 ... KK VK\n". */
static size_t batch_line(uint64_t b, char *line)
{
    char key[KEY_SIZE], val[VALUE_SIZE];
    size_t n = (size_t)sprintf(line, "mput t");
    for (uint64_t p = 0; p < opt.puts; p++) {
        record(b, p, key, val);
        line[n++] = ' ';
        memcpy(line + n, key, KEY_SIZE), n += KEY_SIZE;
        line[n++] = ' ';
        memcpy(line + n, val, VALUE_SIZE), n += VALUE_SIZE;
    }
    line[n++] = '\n';
    return n;
}

/* Sends each of its batches to the leader and waits for its OK.  A batch
 * that fails (the leader changed: ENOTLEADER, ELOST, a closed connection)
 * is sent again to the new leader: its puts are the same, so a batch
 * applied twice leaves the same records; retries are counted and shown. */
static void *raft_client(void *arg)
{
    client *c = arg;
    run *r = c->r;
    char *line = malloc(16 + opt.puts * (KEY_SIZE + VALUE_SIZE + 2));
    char reply[1024] = "";
    if (!line)
        die("out of memory");
    int fd = dial(client_port(r, find_leader(r)));
    for (uint64_t b = (uint64_t)c->index; b < r->batches; b += (uint64_t)r->clients) {
        size_t n = batch_line(b, line);
        for (;;) {
            if (fd >= 0 && send_all(fd, line, n) == 0 && read_line(fd, reply, sizeof reply) == 0 &&
                strncmp(reply, "OK ", 3) == 0)
                break;
            if (fd >= 0 && strncmp(reply, "ERR ", 4) == 0 && !strstr(reply, "ENOTLEADER") &&
                !strstr(reply, "ELOST"))
                die("batch %" PRIu64 ": %s", b, reply);
            if (++c->retries > 1000)
                die("batch %" PRIu64 ": no leader takes it (last reply: %s)", b, reply);
            if (fd >= 0)
                close(fd);
            sleep_ms(20);
            fd = dial(client_port(r, find_leader(r)));
            reply[0] = 0;
        }
    }
    if (fd >= 0)
        close(fd);
    free(line);
    return NULL;
}

/* After a Raft run: every node applied the leader's last entry and holds
 * the first record of the first batch and the last of the last. */
static void raft_verify(run *r)
{
    char line[1024], req[256], key[KEY_SIZE], val[VALUE_SIZE];
    int leader = find_leader(r);
    if (status(r, leader, line, sizeof line) != 0)
        die("leader %d does not answer", leader);
    uint64_t last = field(line, "commit");
    uint64_t probes[2][2] = {{0, 0}, {r->batches - 1, opt.puts - 1}};
    for (int i = 1; i <= r->nodes; i++) {
        wait_applied(r, i, last, NULL);
        for (int p = 0; p < 2; p++) {
            record(probes[p][0], probes[p][1], key, val);
            snprintf(req, sizeof req, "get t %.*s\n", KEY_SIZE, key);
            if (ask(client_port(r, i), req, line, sizeof line) != 0 || strncmp(line, "VALUE ", 6) != 0 ||
                strlen(strrchr(line, ' ') + 1) != VALUE_SIZE || memcmp(strrchr(line, ' ') + 1, val, VALUE_SIZE) != 0)
                die("node %d: get of batch %" PRIu64 "'s record: %s", i, probes[p][0], line);
        }
    }
}

static void cluster_start(run *r, int nodes, int slot)
{
    r->nodes = nodes;
    /* Ports move on with every cluster (8 each), so a port the last one
     * left in TIME_WAIT is not asked for again. */
    r->base = opt.port + (slot % 500) * 8;
    for (int i = 1; i <= nodes; i++)
        node_start(r, i);
    find_leader(r);
}

static void cluster_stop(run *r)
{
    for (int i = 1; i <= r->nodes; i++)
        node_stop(r, i, SIGTERM);
}

/* ---- Runs ------------------------------------------------------------------------- */

static void setup(run *r)
{
    char path[4200];
    switch (r->way) {
    case BIRCH: {
        birch_options o;
        birch_options_init(&o);
        o.durability = BIRCH_DURABLE_FULL;
        snprintf(path, sizeof path, "%s/db.birch", r->dir);
        ok(birch_open(path, &o, &r->db), "birch_open");
        birch_txn *txn;
        ok(birch_txn_begin(r->db, BIRCH_TXN_WRITE, &txn), "birch_txn_begin");
        ok(birch_table_open(txn, "t", BIRCH_CREATE, &r->table), "birch_table_open");
        ok(birch_txn_commit(txn), "birch_txn_commit");
        break;
    }
    case LMDB: {
        lmdb_check(mdb_env_create(&r->env), "mdb_env_create");
        lmdb_check(mdb_env_set_mapsize(r->env, (size_t)1 << 34), "mdb_env_set_mapsize");
        lmdb_check(mdb_env_open(r->env, r->dir, 0, 0644), "mdb_env_open");
        MDB_txn *txn;
        lmdb_check(mdb_txn_begin(r->env, NULL, 0, &txn), "mdb_txn_begin");
        lmdb_check(mdb_dbi_open(txn, NULL, 0, &r->dbi), "mdb_dbi_open");
        lmdb_check(mdb_txn_commit(txn), "mdb_txn_commit");
        break;
    }
    default: break;
    }
}

/* The records the database holds after a run: every one of them. */
static void verify_local(run *r)
{
    uint64_t want = r->batches * opt.puts, count = 0;
    if (r->way == BIRCH) {
        birch_txn *txn;
        ok(birch_txn_begin(r->db, BIRCH_TXN_READ, &txn), "birch_txn_begin");
        ok(birch_count(txn, r->table, &count), "birch_count");
        birch_txn_abort(txn);
        ok(birch_close(r->db), "birch_close");
    } else if (r->way == LMDB) {
        MDB_stat st;
        lmdb_check(mdb_env_stat(r->env, &st), "mdb_env_stat");
        count = st.ms_entries;
        mdb_env_close(r->env);
    } else {
        return;
    }
    if (count != want)
        die("%s holds %" PRIu64 " records after the run, not %" PRIu64, way_names[r->way], count, want);
}

static void *(*const client_fn[N_WAYS])(void *) = {raw_client, lmdb_client, birch_client, raft_client,
                                                    raft_client};

/* One run of a way with C clients: batches per second. */
static double run_way(int way, int clients, int slot)
{
    run r = {0};
    r.way = way;
    r.clients = clients;
    r.batches = opt.batches;
    snprintf(r.dir, sizeof r.dir, "%s/replica/%s-%d", opt.dir, way_names[way], clients);
    fresh_dir(r.dir);
    setup(&r);
    if (way == RAFT1 || way == RAFT3)
        cluster_start(&r, way == RAFT1 ? 1 : NODES, slot);
    double t0 = now();
    for (int i = 0; i < clients; i++) {
        r.client[i] = (client){.r = &r, .index = i};
        if (pthread_create(&r.client[i].thread, NULL, client_fn[way], &r.client[i]) != 0)
            die("pthread_create failed");
    }
    uint64_t retries = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(r.client[i].thread, NULL);
        retries += r.client[i].retries;
    }
    double secs = now() - t0;
    if (way == RAFT1 || way == RAFT3) {
        raft_verify(&r);
        cluster_stop(&r);
    } else {
        verify_local(&r);
    }
    if (retries)
        printf("  (%s, %d clients: %" PRIu64 " batches sent again after a change of leader)\n",
               way_names[way], clients, retries);
    rmtree(r.dir);
    return (double)r.batches / secs;
}

/* ---- Catch-up ----------------------------------------------------------------------- */

typedef struct catchup_result {
    double load_secs, install_secs, catchup_secs;
    uint64_t index, restored, db_bytes;
} catchup_result;

/* A live cluster's trickle of writes: one small put to the leader every
 * 100 ms until *stop.  libraft 0.15 leaves a follower that installed a
 * snapshot without the entries after it until the leader appends a next
 * one (or 30 s pass: DESIGN.md 23.6); a cluster in use always has one. */
typedef struct ticker {
    run *r;
    volatile int stop;
    pthread_t thread;
} ticker;

static void *tick(void *arg)
{
    ticker *t = arg;
    char req[64], line[1024];
    for (unsigned n = 0; !t->stop; n++) {
        snprintf(req, sizeof req, "put tick t%u 1\n", n);
        (void)ask(client_port(t->r, find_leader(t->r)), req, line, sizeof line);
        sleep_ms(100);
    }
    return NULL;
}

/* Waits until node i has installed a snapshot (its status counts one),
 * then until its database has applied index: the seconds since t0 of each. */
static void wait_caught_up(const run *r, int i, uint64_t index, double t0, catchup_result *out)
{
    char line[1024];
    out->install_secs = 0;
    for (int tries = 0; tries < 60000; tries++) {
        if (status(r, i, line, sizeof line) == 0) {
            if (!out->install_secs && field(line, "restored") > 0)
                out->install_secs = now() - t0;
            if (field(line, "db_applied") >= index) {
                out->restored = field(line, "restored");
                out->catchup_secs = now() - t0;
                if (!out->install_secs)
                    out->install_secs = out->catchup_secs;
                return;
            }
        }
        sleep_ms(10);
    }
    die("node %d has not applied %" PRIu64 " after 10 minutes (logs in %s)", i, index, r->dir);
}

static void catchup(int clients, int slot, catchup_result *out)
{
    run r = {0};
    r.way = RAFT3;
    r.clients = clients;
    r.batches = (opt.records + opt.puts - 1) / opt.puts;
    /* The nodes' default (a snapshot every 1,024 entries) for the 10,000
     * entries of 1,000,000 records; smaller loads (--quick) snapshot often
     * enough that the leader's log has dropped the first entries. */
    if (r.batches < 4096)
        r.snapshot_threshold = (unsigned)(r.batches / 4 > 16 ? r.batches / 4 : 16);
    snprintf(r.dir, sizeof r.dir, "%s/replica/catchup", opt.dir);
    fresh_dir(r.dir);
    cluster_start(&r, NODES, slot);
    double t0 = now();
    for (int i = 0; i < clients; i++) {
        r.client[i] = (client){.r = &r, .index = i};
        if (pthread_create(&r.client[i].thread, NULL, raft_client, &r.client[i]) != 0)
            die("pthread_create failed");
    }
    for (int i = 0; i < clients; i++)
        pthread_join(r.client[i].thread, NULL);
    out->load_secs = now() - t0;

    char line[1024], path[4300];
    int leader = find_leader(&r);
    if (status(&r, leader, line, sizeof line) != 0)
        die("leader %d does not answer", leader);
    out->index = field(line, "commit");
    for (int i = 1; i <= NODES; i++)
        wait_applied(&r, i, out->index, NULL);
    int victim = leader % NODES + 1;
    struct stat st;
    snprintf(path, sizeof path, "%s/n%d/db.birch", r.dir, leader);
    out->db_bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;

    node_stop(&r, victim, SIGKILL);
    snprintf(path, sizeof path, "%s/n%d", r.dir, victim);
    rmtree(path);
    t0 = now();
    node_start(&r, victim);
    ticker tk = {.r = &r};
    if (pthread_create(&tk.thread, NULL, tick, &tk) != 0)
        die("pthread_create failed");
    wait_caught_up(&r, victim, out->index, t0, out);
    tk.stop = 1;
    pthread_join(tk.thread, NULL);
    raft_verify(&r);
    cluster_stop(&r);
    rmtree(r.dir);
}

/* ---- Report ------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void parse_counts(const char *s)
{
    opt.n_counts = 0;
    for (const char *p = s; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > MAX_CLIENTS || opt.n_counts == MAX_COUNTS)
            die("--clients: numbers from 1 to %d, separated by commas", MAX_CLIENTS);
        opt.counts[opt.n_counts++] = (int)v;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            die("--clients: numbers from 1 to %d, separated by commas", MAX_CLIENTS);
    }
}

static void parse_ways(const char *s)
{
    memset(opt.ways, 0, sizeof opt.ways);
    opt.catchup = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *w = strtok(buf, ","); w; w = strtok(NULL, ",")) {
        int found = 0;
        for (int i = 0; i < N_WAYS; i++)
            if (strcmp(w, way_names[i]) == 0)
                opt.ways[i] = found = 1;
        if (strcmp(w, "catchup") == 0)
            opt.catchup = found = 1;
        if (!found)
            die("--ways: raw, lmdb, birch, raft1, raft3, catchup (not %s)", w);
    }
}

static uint64_t number(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v == 0 || s[0] == '-')
        die("%s: a positive number, not %s", what, s);
    return v;
}

static void usage(void)
{
    fprintf(stderr, "usage: birch-bench-replica [--batches N] [--puts K] [--clients LIST] [--repeat R]\n"
                    "                           [--records N] [--ways raw,lmdb,birch,raft1,raft3,catchup]\n"
                    "                           [--quick] [--dir DIR] [--port BASE] [--server PATH]\n");
    exit(2);
}

static void args(int argc, char **argv)
{
    int quick = 0;
    const char *batches = NULL, *records = NULL, *repeat = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            quick = 1;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--batches")) batches = v;
        else if (!strcmp(a, "--puts")) opt.puts = number(v, a);
        else if (!strcmp(a, "--records")) records = v;
        else if (!strcmp(a, "--repeat")) repeat = v;
        else if (!strcmp(a, "--clients")) parse_counts(v);
        else if (!strcmp(a, "--ways")) parse_ways(v);
        else if (!strcmp(a, "--dir")) opt.dir = v;
        else if (!strcmp(a, "--server")) opt.server = v;
        else if (!strcmp(a, "--port")) opt.port = (int)number(v, a);
        else usage();
    }
    opt.batches = batches ? number(batches, "--batches") : quick ? 100 : opt.batches;
    opt.records = records ? number(records, "--records") : quick ? 20000 : opt.records;
    opt.repeat = repeat ? (int)number(repeat, "--repeat") : quick ? 1 : opt.repeat;
    if (opt.repeat > MAX_REPEAT || opt.puts > 10000)
        die("--repeat at most %d, --puts at most 10000", MAX_REPEAT);
    /* Below Linux's ephemeral ports (32768 and up), so that no outgoing
     * connection holds a port a node is about to listen on. */
    if (opt.port == 0)
        opt.port = 21000 + (int)(getpid() % 8) * 1000;
    if (opt.port > 65535 - 500 * 8)
        die("--port: at most %d", 65535 - 500 * 8);
}

int main(int argc, char **argv)
{
    args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    char path[4200];
    mkdir(opt.dir, 0755);
    snprintf(path, sizeof path, "%s/replica", opt.dir);
    fresh_dir(path);

    printf("durable commits of batches of %" PRIu64 " puts (16-byte keys, 100-byte values), %" PRIu64
           " batches a run, median of %d: batches per second\n",
           opt.puts, opt.batches, opt.repeat);
    double rates[N_WAYS][MAX_COUNTS][MAX_REPEAT] = {{{0}}};
    int slot = 0;
    for (int rep = 0; rep < opt.repeat; rep++)
        for (int k = 0; k < N_WAYS; k++) {
            int way = (k + rep) % N_WAYS; /* rotated, so no way always runs first */
            if (!opt.ways[way])
                continue;
            for (int c = 0; c < opt.n_counts; c++)
                rates[way][c][rep] = run_way(way, opt.counts[c], slot++);
        }

    snprintf(path, sizeof path, "%s/replica.md", opt.dir);
    FILE *md = fopen(path, "w");
    if (!md)
        die("cannot write %s: %s", path, strerror(errno));
    FILE *outs[2] = {stdout, md};
    double med[N_WAYS][MAX_COUNTS];
    for (int w = 0; w < N_WAYS; w++)
        for (int c = 0; c < opt.n_counts; c++)
            med[w][c] = opt.ways[w] ? median(rates[w][c], opt.repeat) : 0;
    for (int o = 0; o < 2; o++) {
        FILE *f = outs[o];
        fprintf(f, "\n| way | ");
        for (int c = 0; c < opt.n_counts; c++)
            fprintf(f, "%d client%s | ", opt.counts[c], opt.counts[c] > 1 ? "s" : "");
        fprintf(f, "\n|---|");
        for (int c = 0; c < opt.n_counts; c++)
            fprintf(f, "---:|");
        fprintf(f, "\n");
        for (int w = 0; w < N_WAYS; w++) {
            if (!opt.ways[w])
                continue;
            fprintf(f, "| %s | ", way_titles[w]);
            for (int c = 0; c < opt.n_counts; c++)
                fprintf(f, "%.0f | ", med[w][c]);
            fprintf(f, "\n");
        }
        if (opt.ways[BIRCH] && opt.ways[RAFT3]) {
            fprintf(f, "\n3-node Raft / birch FULL:");
            for (int c = 0; c < opt.n_counts; c++)
                fprintf(f, " %.2fx (%d client%s)", med[RAFT3][c] / med[BIRCH][c], opt.counts[c],
                        opt.counts[c] > 1 ? "s" : "");
            fprintf(f, "  (goal: at least 0.5x)\n");
        }
        if (opt.ways[RAFT1] && opt.ways[RAFT3]) {
            fprintf(f, "3-node Raft / 1-node Raft:");
            for (int c = 0; c < opt.n_counts; c++)
                fprintf(f, " %.2fx", med[RAFT3][c] / med[RAFT1][c]);
            fprintf(f, "\n");
        }
        if (opt.ways[BIRCH] && opt.ways[LMDB]) {
            fprintf(f, "birch FULL / lmdb:");
            for (int c = 0; c < opt.n_counts; c++)
                fprintf(f, " %.2fx", med[BIRCH][c] / med[LMDB][c]);
            fprintf(f, "\n");
        }
    }
    fflush(md);

    if (opt.catchup) {
        catchup_result cr;
        int clients = opt.counts[0];
        for (int c = 1; c < opt.n_counts; c++)
            if (opt.counts[c] > clients)
                clients = opt.counts[c];
        catchup(clients, slot++, &cr);
        for (int o = 0; o < 2; o++)
            fprintf(outs[o],
                    "\ncatch-up: %" PRIu64 " records loaded into 3 nodes in %.1f s (%d clients, %.0f batches/s); "
                    "a follower wiped and restarted (a put every 100 ms meanwhile) had installed a snapshot "
                    "after %.2f s and applied all %" PRIu64 " entries after %.2f s "
                    "(snapshots installed: %" PRIu64 "; the leader's file: %.1f MiB)\n",
                    (uint64_t)((opt.records + opt.puts - 1) / opt.puts * opt.puts), cr.load_secs, clients,
                    (double)((opt.records + opt.puts - 1) / opt.puts) / cr.load_secs, cr.install_secs,
                    cr.index, cr.catchup_secs, cr.restored, (double)cr.db_bytes / (1 << 20));
        if (cr.restored == 0)
            die("the wiped node caught up without a snapshot: the run did not measure an install");
    }
    fclose(md);
    return 0;
}
