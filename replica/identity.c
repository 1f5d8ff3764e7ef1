/*
 * identity.c - whose data directory this is.  A node's directory holds
 * "identity" (a text file: format line, node id, cluster id) beside its
 * Raft log and database; a node started on another node's directory, or
 * with another cluster id, refuses to start rather than vote with
 * another's term and log or serve another cluster's data.  The file is
 * written once, when the directory is new (atomically: temporary file,
 * sync, rename, directory sync), and only read after that.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "replica_internal.h"

#define IDENTITY_FORMAT "birch-replica identity 1"

static int exists(const char *dir, const char *name)
{
    char p[4096];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0;
}

static int write_identity(const char *dir, uint64_t id, const char *cluster)
{
    char tmp[4096], path[4096], text[256];
    snprintf(tmp, sizeof tmp, "%s/identity.tmp", dir);
    snprintf(path, sizeof path, "%s/identity", dir);
    int n = snprintf(text, sizeof text, IDENTITY_FORMAT "\nnode %" PRIu64 "\ncluster %s\n", id, cluster);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return rp_err(BIRCH_EIO, "creating %s: %s", tmp, strerror(errno));
    int ok = write(fd, text, (size_t)n) == n && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0)
        return rp_err(BIRCH_EIO, "writing %s: %s", path, strerror(errno));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return BIRCH_OK;
}

int rp_identity(const char *dir, uint64_t id, const char *cluster)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return rp_err(errno == ENOENT ? BIRCH_NOTFOUND : BIRCH_EIO, "creating data directory %s: %s",
                      dir, strerror(errno));
    char path[4096];
    snprintf(path, sizeof path, "%s/identity", dir);
    FILE *f = fopen(path, "re");
    if (!f) {
        if (errno != ENOENT)
            return rp_err(BIRCH_EIO, "reading %s: %s", path, strerror(errno));
        if (exists(dir, "raft") || exists(dir, "db.birch"))
            return rp_err(BIRCH_REPLICA_EIDENTITY,
                          "data directory %s holds a Raft log or a database but no identity file", dir);
        return write_identity(dir, id, cluster);
    }
    char format[64] = "", got_cluster[BIRCH_REPLICA_MAX_CLUSTER_ID + 2] = "";
    uint64_t got_id = 0;
    int ok = fgets(format, sizeof format, f) && strcmp(format, IDENTITY_FORMAT "\n") == 0 &&
             fscanf(f, "node %" SCNu64 "\ncluster %65s", &got_id, got_cluster) == 2;
    fclose(f);
    if (!ok)
        return rp_err(BIRCH_REPLICA_EIDENTITY, "%s is not a birch replica identity file", path);
    if (got_id != id)
        return rp_err(BIRCH_REPLICA_EIDENTITY, "data directory %s belongs to node %" PRIu64 ", not %" PRIu64,
                      dir, got_id, id);
    if (strcmp(got_cluster, cluster) != 0)
        return rp_err(BIRCH_REPLICA_EIDENTITY, "data directory %s belongs to cluster \"%s\", not \"%s\"",
                      dir, got_cluster, cluster);
    return BIRCH_OK;
}
