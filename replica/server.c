/*
 * server.c - birch-replica: one replica node per process, and a line
 * protocol for clients on a TCP port (docs/guide/replication.md).
 *
 *   birch-replica --id 1 --cluster demo --dir n1 --raft 127.0.0.1:7001 \
 *                 --client 127.0.0.1:8001 --peer 1=127.0.0.1:7001 \
 *                 --peer 2=127.0.0.1:7002 --peer 3=127.0.0.1:7003
 *
 * Requests are lines of words separated by spaces (so keys and values are
 * words: any bytes but space, CR, LF and NUL); each gets one reply line,
 * or for scan several lines and an END line, in the order the requests
 * came: a connection's next line is read once the reply to the last one
 * is written.
 *   put TABLE KEY VALUE          -> OK INDEX         (through the leader)
 *   mput TABLE KEY VALUE ...     -> OK INDEX         (one batch of at most 1024 puts)
 *   del TABLE KEY                -> OK INDEX
 *   get TABLE KEY                -> VALUE APPLIED VALUE | NOTFOUND APPLIED  (local, maybe stale)
 *   lget TABLE KEY               -> the same, after a barrier (leader: linearizable)
 *   scan TABLE [FROM] [LIMIT]    -> KEY K V lines, then END APPLIED (local)
 *   status                       -> STATUS id=... state=... leader=... ...
 * A bad line (unknown command, wrong word count, a NUL, CR or tab inside
 * it, a line longer than --max-line) gets "ERR EINVAL message"; other failures "ERR CODE message"
 * (ENOTLEADER names the leader's Raft id and address, ETOOBIG the limit).
 * The connection stays usable after any of them.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "birch_replica.h"

#define MAX_PEERS 16
#define BUFFER_SLACK ((size_t)128 << 10) /* lines a connection may send ahead */
#define QUEUE_MAX ((size_t)1 << 20)       /* reply bytes a connection may leave unread */
#define DRAIN_TICKS 500 /* 10 ms each: how long a signal waits for pending writes */
#define MAX_WORDS 2050 /* mput of 1024 pairs */

typedef struct server {
    uv_loop_t loop;
    birch_replica *node;
    uv_tcp_t listener;
    uv_signal_t sigint, sigterm;
    uv_timer_t drain;   /* a signal: waits for pending writes, then closes */
    int drain_ticks;
    size_t max_line;
    int stopping;
    struct conn *conns; /* open client connections */
} server;

typedef struct conn {
    uv_tcp_t tcp;
    server *srv;
    char *buf;          /* bytes read and not yet handled */
    size_t len, cap;
    int busy;           /* a write or barrier is pending: reply first */
    int discarding;     /* dropping the rest of an over-long line */
    int eof;            /* the client has sent all: close once its lines are answered */
    int closed;         /* uv_close called: free once not busy */
    int paused;         /* reading stopped: the buffer is full of waiting lines */
    char pending[2][512]; /* lget: table and key to read after the barrier */
    int lget;
    struct conn *prev, *next; /* in srv->conns */
} conn;

/* ---- Replies ---------------------------------------------------------------------- */

/* A reply being written: the request, its connection, its bytes. */
typedef struct wreq {
    uv_write_t req;
    conn *c;
    char data[];
} wreq;

static void flow(conn *c);

static void written(uv_write_t *req, int status)
{
    conn *c = ((wreq *)req)->c;
    free(req);
    if (status == 0 && !c->closed)
        flow(c); /* the queue shrank: it may take more requests */
}

/* A reply of n bytes to fill and send (send_reply), or NULL. */
static wreq *new_reply(conn *c, size_t n)
{
    if (c->closed)
        return NULL;
    wreq *w = malloc(sizeof *w + n);
    if (w)
        w->c = c;
    return w;
}

static void send_reply(conn *c, wreq *w, size_t n)
{
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, written) != 0)
        free(w);
}

static void send_bytes(conn *c, const char *p, size_t n)
{
    wreq *w = new_reply(c, n);
    if (w) {
        memcpy(w->data, p, n);
        send_reply(c, w, n);
    }
}

static void reply(conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(conn *c, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    send_bytes(c, line, (size_t)n);
}

static const char *code_name(int rc)
{
    switch (rc) {
    case BIRCH_NOTFOUND: return "NOTFOUND";
    case BIRCH_EINVAL: return "EINVAL";
    case BIRCH_EKEYSIZE: return "EKEYSIZE";
    case BIRCH_EVALSIZE: return "EVALSIZE";
    case BIRCH_ECORRUPT: return "ECORRUPT";
    case BIRCH_ESCHEMA: return "ESCHEMA";
    case BIRCH_EFULL: return "EFULL";
    case BIRCH_EIO: return "EIO";
    case BIRCH_ENOMEM: return "ENOMEM";
    case BIRCH_EBUSY: return "EBUSY";
    case BIRCH_REPLICA_ENOTLEADER: return "ENOTLEADER";
    case BIRCH_REPLICA_EIDENTITY: return "EIDENTITY";
    case BIRCH_REPLICA_ETOOBIG: return "ETOOBIG";
    case BIRCH_REPLICA_ERAFT: return "ERAFT";
    case BIRCH_REPLICA_ELOST: return "ELOST";
    default: return "ERROR";
    }
}

/* A reply line of head, then each of the n words of w after a space: keys
 * and values whole, however long (reply's buffer would cut them). */
static void reply_words(conn *c, const char *head, const birch_val *w, int n)
{
    size_t len = strlen(head) + 1;
    for (int i = 0; i < n; i++)
        len += 1 + w[i].size;
    wreq *r = new_reply(c, len); /* built in place: a value is copied once */
    if (!r)
        return;
    char *line = r->data;
    size_t at = strlen(head);
    memcpy(line, head, at);
    for (int i = 0; i < n; i++) {
        line[at++] = ' ';
        if (w[i].size)
            memcpy(line + at, w[i].data, w[i].size);
        at += w[i].size;
    }
    line[at++] = '\n';
    send_reply(c, r, at);
}

/* A message on one line: newlines become spaces. */
static void reply_err(conn *c, int rc, const char *msg)
{
    char clean[800];
    snprintf(clean, sizeof clean, "%s", msg ? msg : birch_replica_strerror(rc));
    for (char *p = clean; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    reply(c, "ERR %s %s", code_name(rc), clean);
}

/* ---- Reads -------------------------------------------------------------------------- */

static void do_get(conn *c, const char *table, const char *key)
{
    birch_txn *txn;
    birch_table *t;
    birch_val v;
    uint64_t applied;
    int rc = birch_replica_read(c->srv->node, &txn, &applied);
    if (rc) {
        reply_err(c, rc, birch_replica_errmsg());
        return;
    }
    rc = birch_table_open(txn, table, 0, &t);
    if (rc == BIRCH_OK)
        rc = birch_get(txn, t, (birch_val){key, strlen(key)}, &v);
    if (rc == BIRCH_OK) {
        char head[64];
        snprintf(head, sizeof head, "VALUE %" PRIu64, applied);
        reply_words(c, head, &v, 1);
    }
    else if (rc == BIRCH_NOTFOUND)
        reply(c, "NOTFOUND %" PRIu64, applied);
    else
        reply_err(c, rc, birch_errmsg());
    birch_txn_abort(txn);
}

static void do_scan(conn *c, const char *table, const char *from, unsigned long limit)
{
    birch_txn *txn;
    birch_table *t;
    birch_cursor *cur = NULL;
    uint64_t applied;
    int rc = birch_replica_read(c->srv->node, &txn, &applied);
    if (rc) {
        reply_err(c, rc, birch_replica_errmsg());
        return;
    }
    rc = birch_table_open(txn, table, 0, &t);
    if (rc == BIRCH_OK)
        rc = birch_cursor_open(txn, t, &cur);
    if (rc == BIRCH_OK)
        rc = from ? birch_cursor_seek(cur, (birch_val){from, strlen(from)}) : birch_cursor_first(cur);
    for (unsigned long n = 0; rc == BIRCH_OK && n < limit; n++) {
        birch_val kv[2];
        if ((rc = birch_cursor_get(cur, &kv[0], &kv[1])) != BIRCH_OK)
            break;
        reply_words(c, "KEY", kv, 2);
        rc = birch_cursor_next(cur);
    }
    if (rc == BIRCH_OK || rc == BIRCH_NOTFOUND)
        reply(c, "END %" PRIu64, applied);
    else
        reply_err(c, rc, birch_errmsg());
    birch_cursor_close(cur);
    birch_txn_abort(txn);
}

static size_t queued(conn *c);

static void do_status(conn *c)
{
    birch_replica_status st;
    birch_replica_status_get(c->srv->node, &st);
    size_t clients = 0, bytes = 0; /* reply bytes waiting for their clients */
    for (conn *o = c->srv->conns; o; o = o->next)
        if (!o->closed) {
            clients++;
            bytes += queued(o);
        }
    reply(c,
          "STATUS id=%" PRIu64 " state=%s leader=%" PRIu64 " leader_address=%s term=%" PRIu64
          " commit=%" PRIu64 " applied=%" PRIu64 " last=%" PRIu64 " db_applied=%" PRIu64
          " written=%" PRIu64 " skipped=%" PRIu64 " refused=%" PRIu64 " restored=%" PRIu64
          " clients=%zu queued=%zu",
          st.id, st.state, st.leader_id, st.leader_address ? st.leader_address : "-", st.term,
          st.commit_index, st.last_applied, st.last_index, st.sm.applied, st.sm.written, st.sm.skipped,
          st.sm.refused, st.sm.restored, clients, bytes);
}

/* ---- Writes ------------------------------------------------------------------------- */

static void process(conn *c);
static void maybe_free(conn *c);
static void close_conn(conn *c);

static void write_done(void *ctx, int rc, uint64_t index, const char *msg)
{
    conn *c = ctx;
    if (rc == BIRCH_OK && c->lget) {
        c->lget = 0;
        do_get(c, c->pending[0], c->pending[1]);
    } else if (rc == BIRCH_OK) {
        reply(c, "OK %" PRIu64, index);
    } else {
        c->lget = 0;
        reply_err(c, rc, msg);
    }
    c->busy = 0;
    if (c->closed) {
        maybe_free(c);
        return;
    }
    flow(c);
}

/* Submits the batch b; the reply comes from write_done. */
static void submit(conn *c, birch_batch *b)
{
    birch_val bytes;
    int rc = birch_batch_bytes(b, &bytes);
    if (rc == BIRCH_OK)
        rc = birch_replica_write(c->srv->node, bytes, write_done, c);
    if (rc)
        reply_err(c, rc, birch_replica_errmsg());
    else
        c->busy = 1;
}

static void do_batch(conn *c, int del, char **w, int n)
{
    birch_batch b;
    birch_batch_init(&b);
    int rc = BIRCH_OK;
    if (del) {
        rc = birch_batch_del(&b, w[1], (birch_val){w[2], strlen(w[2])});
    } else {
        for (int i = 2; i + 1 < n && rc == BIRCH_OK; i += 2)
            rc = birch_batch_put(&b, w[1], (birch_val){w[i], strlen(w[i])},
                                 (birch_val){w[i + 1], strlen(w[i + 1])});
    }
    if (rc)
        reply_err(c, rc, birch_errmsg());
    else
        submit(c, &b);
    birch_batch_free(&b);
}

/* ---- Lines ---------------------------------------------------------------------------- */

/* The words of line into w; MAX_WORDS + 1 if there are more than
 * MAX_WORDS (the rest are not split). */
static int split(char *line, char **w)
{
    int n = 0;
    for (char *p = strtok(line, " "); p; p = strtok(NULL, " ")) {
        if (n == MAX_WORDS)
            return MAX_WORDS + 1;
        w[n++] = p;
    }
    return n;
}

static int parse_limit(const char *s, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || !*s || s[0] < '0' || s[0] > '9' || v == 0 || v > 100000)
        return 0;
    *out = v;
    return 1;
}

/* One request: line holds len bytes (NUL-terminated after them). */
static void handle(conn *c, char *line, size_t len)
{
    static char *w[MAX_WORDS];
    if (len && line[len - 1] == '\r')
        line[--len] = 0;
    if (memchr(line, 0, len) != NULL || memchr(line, '\r', len) != NULL || memchr(line, '\t', len) != NULL) {
        reply(c, "ERR EINVAL words are separated by single spaces and hold no NUL, CR or tab");
        return;
    }
    int n = split(line, w);
    if (n > MAX_WORDS) {
        reply(c, "ERR EINVAL more than %d words (mput takes at most %d pairs)", MAX_WORDS,
              (MAX_WORDS - 2) / 2);
        return;
    }
    if (n == 0) {
        reply(c, "ERR EINVAL empty line: put, mput, del, get, lget, scan or status");
        return;
    }
    const char *cmd = w[0];
    if (strcmp(cmd, "put") == 0 && n == 4) {
        do_batch(c, 0, w, n);
    } else if (strcmp(cmd, "mput") == 0 && n >= 4 && n % 2 == 0) {
        do_batch(c, 0, w, n);
    } else if (strcmp(cmd, "del") == 0 && n == 3) {
        do_batch(c, 1, w, n);
    } else if (strcmp(cmd, "get") == 0 && n == 3) {
        do_get(c, w[1], w[2]);
    } else if (strcmp(cmd, "lget") == 0 && n == 3) {
        if (strlen(w[1]) >= sizeof c->pending[0] || strlen(w[2]) >= sizeof c->pending[1]) {
            reply(c, "ERR EINVAL table or key too long for lget");
            return;
        }
        strcpy(c->pending[0], w[1]);
        strcpy(c->pending[1], w[2]);
        int rc = birch_replica_barrier(c->srv->node, write_done, c);
        if (rc) {
            reply_err(c, rc, birch_replica_errmsg());
        } else {
            c->lget = 1;
            c->busy = 1;
        }
    } else if (strcmp(cmd, "scan") == 0 && n >= 2 && n <= 4) {
        unsigned long limit = 100;
        const char *from = n >= 3 ? w[2] : NULL;
        if (n == 4 && !parse_limit(w[3], &limit)) {
            reply(c, "ERR EINVAL scan LIMIT: a number from 1 to 100000");
            return;
        }
        if (n == 3 && parse_limit(w[2], &limit))
            from = NULL; /* scan TABLE LIMIT */
        do_scan(c, w[1], from, limit);
    } else if (strcmp(cmd, "status") == 0 && n == 1) {
        do_status(c);
    } else {
        reply(c, "ERR EINVAL bad request \"%.40s\" with %d words: put TABLE KEY VALUE, mput TABLE KEY VALUE..., "
                 "del TABLE KEY, get TABLE KEY, lget TABLE KEY, scan TABLE [FROM] [LIMIT], status",
              cmd, n);
    }
}

/* Bytes of replies the client has not taken yet. */
static size_t queued(conn *c)
{
    return uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp);
}

/* Whether the connection's next line may be handled: no request of its
 * pending, and its replies taken (a client that sends gets or scans
 * without reading would otherwise queue replies without bound). */
static int ready(conn *c)
{
    return !c->busy && !c->closed && !c->srv->stopping && queued(c) <= QUEUE_MAX;
}

/* Handles the complete lines in the buffer, until one leaves a request
 * pending or the replies pile up. */
static void process(conn *c)
{
    size_t at = 0;
    if (!c->buf) /* nothing read yet */
        return;
    while (ready(c)) {
        char *nl = memchr(c->buf + at, '\n', c->len - at);
        if (!nl) {
            if (c->len - at > c->srv->max_line) { /* an over-long line: say so once, drop it */
                if (!c->discarding)
                    reply(c, "ERR EINVAL line longer than %zu bytes", c->srv->max_line);
                c->discarding = 1;
                at = c->len;
            }
            break;
        }
        *nl = 0;
        size_t n = (size_t)(nl - (c->buf + at));
        if (c->discarding)
            c->discarding = 0; /* the end of the dropped line */
        else if (n > c->srv->max_line)
            reply(c, "ERR EINVAL line longer than %zu bytes", c->srv->max_line);
        else
            handle(c, c->buf + at, n);
        at += n + 1;
    }
    memmove(c->buf, c->buf + at, c->len - at);
    c->len -= at;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    conn *c = h->data;
    (void)suggested;
    if (c->cap - c->len < 65536) {
        size_t cap = c->cap ? c->cap * 2 : 131072;
        char *p = realloc(c->buf, cap);
        if (!p) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        c->buf = p;
        c->cap = cap;
    }
    *buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void conn_closed(uv_handle_t *h)
{
    conn *c = h->data;
    c->closed = 2;
    maybe_free(c);
}

static void maybe_free(conn *c)
{
    if (c->closed == 2 && !c->busy) {
        if (c->prev)
            c->prev->next = c->next;
        else
            c->srv->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        free(c->buf);
        free(c);
    }
}

static void close_conn(conn *c)
{
    if (!c->closed) {
        c->closed = 1;
        uv_close((uv_handle_t *)&c->tcp, conn_closed);
    }
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

/* After anything that may let a connection go on (a read, a request
 * done, a reply written): handles the lines it can; stops reading while
 * more than a line and 128 KiB of requests wait or more than QUEUE_MAX of
 * replies are untaken, and reads again once neither; closes the
 * connection once its client has sent all and everything is answered. */
static void flow(conn *c)
{
    if (c->closed)
        return;
    process(c);
    if (c->closed)
        return;
    int over = c->len > c->srv->max_line + BUFFER_SLACK || queued(c) > QUEUE_MAX;
    if (over && !c->paused && !c->eof) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->paused = 1;
    } else if (!over && c->paused && !c->eof && !c->srv->stopping) {
        c->paused = 0;
        if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) != 0)
            close_conn(c);
    }
    if (c->eof && !c->busy && (c->len == 0 || !memchr(c->buf, '\n', c->len)) && queued(c) == 0)
        close_conn(c);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn *c = s->data;
    (void)buf;
    if (n == UV_EOF) {
        c->eof = 1;
        uv_read_stop(s);
        flow(c); /* closes it once its lines are answered */
        return;
    }
    if (n < 0) {
        close_conn(c);
        return;
    }
    c->len += (size_t)n;
    flow(c);
}

static void accept_cb(uv_stream_t *listener, int status)
{
    server *srv = listener->data;
    if (status < 0 || srv->stopping)
        return;
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->srv = srv;
    c->next = srv->conns;
    if (c->next)
        c->next->prev = c;
    srv->conns = c;
    uv_tcp_init(&srv->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
        uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) != 0) {
        close_conn(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
}

/* ---- Start and stop ------------------------------------------------------------------ */

static void node_closed(void *ctx)
{
    server *srv = ctx;
    srv->node = NULL;
    uv_stop(&srv->loop);
}

/* After a signal: once no write or barrier waits for its entry (or after
 * DRAIN_TICKS), closes the connections and the node.  Waiting lets the
 * pending writes be answered, and spares libraft 0.15 a close with entries
 * in flight, which crashes it (logRelease of entries it no longer holds). */
static void drain_tick(uv_timer_t *t)
{
    server *srv = t->data;
    int busy = 0;
    for (conn *c = srv->conns; c; c = c->next)
        busy |= c->busy; /* a closed connection's write is in flight too */
    if (busy && ++srv->drain_ticks < DRAIN_TICKS)
        return;
    uv_close((uv_handle_t *)&srv->drain, NULL);
    for (conn *c = srv->conns; c; c = c->next)
        close_conn(c);
    birch_replica_close(srv->node, node_closed, srv);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    server *srv = sig->data;
    (void)signum;
    if (srv->stopping)
        return;
    srv->stopping = 1; /* no more requests are read (process) */
    uv_close((uv_handle_t *)&srv->listener, NULL);
    uv_close((uv_handle_t *)&srv->sigint, NULL);
    uv_close((uv_handle_t *)&srv->sigterm, NULL);
    for (conn *c = srv->conns; c; c = c->next)
        if (!c->closed)
            uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_init(&srv->loop, &srv->drain);
    srv->drain.data = srv;
    uv_timer_start(&srv->drain, drain_tick, 0, 10);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: birch-replica --id N --cluster ID --dir DIR --raft IP:PORT --client IP:PORT\n"
            "                     [--peer N=IP:PORT ...] [--max-batch BYTES] [--max-line BYTES]\n"
            "                     [--snapshot-threshold N] [--snapshot-trailing N] [--install-timeout MS]\n"
            "                     [--durable]\n"
            "  --peer      every member of the first configuration, this node included (on\n"
            "              the first start only; leave out to join a running cluster)\n"
            "  --max-batch largest batch a client may submit (default 1048576)\n"
            "  --max-line  longest request line (default 65536)\n"
            "  --install-timeout  ms a leader waits for a snapshot's answer before sending\n"
            "              it again (default 10000: at least the time one takes to send)\n"
            "  --durable   sync each database commit too (the Raft log is synced always)\n"
            "exit status: 0 stopped by SIGTERM or SIGINT, 1 failure, 2 usage\n");
}

/* "IPv4:PORT" into *addr. */
static int parse_addr(const char *s, struct sockaddr_in *addr)
{
    const char *colon = strrchr(s, ':');
    char ip[64];
    uint64_t port;
    if (!colon || (size_t)(colon - s) >= sizeof ip)
        return 0;
    memcpy(ip, s, (size_t)(colon - s));
    ip[colon - s] = 0;
    char *end;
    errno = 0;
    port = strtoull(colon + 1, &end, 10);
    if (errno || *end || !colon[1] || port == 0 || port > 65535)
        return 0;
    return uv_ip4_addr(ip, (int)port, addr) == 0;
}

static int number(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || !*s || s[0] < '0' || s[0] > '9')
        return 0;
    *out = v;
    return 1;
}

int main(int argc, char **argv)
{
    static birch_replica_peer peers[MAX_PEERS];
    birch_replica_options o;
    birch_replica_options_init(&o);
    const char *client = NULL;
    uint64_t max_line = 65536, v;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *arg = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(a, "--durable") == 0) {
            o.durability = BIRCH_DURABLE_FULL;
            continue;
        }
        if (!arg) {
            fprintf(stderr, "birch-replica: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        i++;
        int ok = 1;
        if (strcmp(a, "--id") == 0)
            ok = number(arg, &o.id) && o.id > 0;
        else if (strcmp(a, "--cluster") == 0)
            o.cluster_id = arg;
        else if (strcmp(a, "--dir") == 0)
            o.dir = arg;
        else if (strcmp(a, "--raft") == 0)
            o.address = arg;
        else if (strcmp(a, "--client") == 0)
            client = arg;
        else if (strcmp(a, "--max-batch") == 0)
            ok = number(arg, &v) && v > 0 && (o.max_batch = (size_t)v) == v;
        else if (strcmp(a, "--max-line") == 0)
            ok = number(arg, &max_line) && max_line >= 64 && max_line <= ((uint64_t)64 << 20);
        else if (strcmp(a, "--snapshot-threshold") == 0)
            ok = number(arg, &v) && v > 0 && v < (1u << 31) && (o.snapshot_threshold = (unsigned)v);
        else if (strcmp(a, "--snapshot-trailing") == 0)
            ok = number(arg, &v) && v > 0 && v < (1u << 31) && (o.snapshot_trailing = (unsigned)v);
        else if (strcmp(a, "--install-timeout") == 0)
            ok = number(arg, &v) && v > 0 && v < (1u << 31) && (o.install_timeout_ms = (unsigned)v);
        else if (strcmp(a, "--peer") == 0) {
            const char *eq = strchr(arg, '=');
            char idtext[32];
            ok = eq && o.n_peers < MAX_PEERS && (size_t)(eq - arg) < sizeof idtext;
            if (ok) {
                memcpy(idtext, arg, (size_t)(eq - arg));
                idtext[eq - arg] = 0;
                ok = number(idtext, &peers[o.n_peers].id) && peers[o.n_peers].id > 0 && eq[1];
                peers[o.n_peers].address = eq + 1;
                o.n_peers += ok;
            }
        } else {
            fprintf(stderr, "birch-replica: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "birch-replica: bad value for %s: %s\n", a, arg);
            return 2;
        }
    }
    if (!o.id || !o.cluster_id || !o.dir || !o.address || !client) {
        fprintf(stderr, "birch-replica: --id, --cluster, --dir, --raft and --client are required\n");
        usage(stderr);
        return 2;
    }
    o.peers = peers;
    signal(SIGPIPE, SIG_IGN);

    server srv;
    memset(&srv, 0, sizeof srv);
    srv.max_line = (size_t)max_line;
    struct sockaddr_in addr;
    if (!parse_addr(client, &addr) || uv_loop_init(&srv.loop) != 0) {
        fprintf(stderr, "birch-replica: --client %s: an IPv4 address and port, like 127.0.0.1:8001\n", client);
        return 2;
    }
    srv.loop.data = &srv;
    int rc = birch_replica_open(&srv.loop, &o, &srv.node);
    if (rc) {
        fprintf(stderr, "birch-replica: %s: %s\n", birch_replica_strerror(rc), birch_replica_errmsg());
        return 1;
    }
    uv_tcp_init(&srv.loop, &srv.listener);
    srv.listener.data = &srv;
    int e = uv_tcp_bind(&srv.listener, (const struct sockaddr *)&addr, 0);
    if (e == 0)
        e = uv_listen((uv_stream_t *)&srv.listener, 128, accept_cb);
    if (e) {
        fprintf(stderr, "birch-replica: listening on %s: %s\n", client, uv_strerror(e));
        srv.stopping = 1;
        uv_close((uv_handle_t *)&srv.listener, NULL);
        birch_replica_close(srv.node, node_closed, &srv);
        uv_run(&srv.loop, UV_RUN_DEFAULT);
        return 1;
    }
    uv_signal_init(&srv.loop, &srv.sigint);
    uv_signal_init(&srv.loop, &srv.sigterm);
    srv.sigint.data = srv.sigterm.data = &srv;
    uv_signal_start(&srv.sigint, on_signal, SIGINT);
    uv_signal_start(&srv.sigterm, on_signal, SIGTERM);
    fprintf(stderr, "birch-replica: node %" PRIu64 " of cluster %s: raft %s, clients %s\n", o.id,
            o.cluster_id, o.address, client);
    uv_run(&srv.loop, UV_RUN_DEFAULT);
    uv_run(&srv.loop, UV_RUN_NOWAIT); /* the last close callbacks */
    uv_loop_close(&srv.loop);
    return 0;
}
