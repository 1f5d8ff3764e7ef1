/*
 * fbs_evolution_v1.c - test_fbs_gen's reader and builder of the first
 * version of tests/fbs/evolution_v1.fbs, through the header `birch fbs`
 * generates from it (evolution_v1_birch.h).  evolution_v2_birch.h, which
 * test_fbs_gen.c includes, defines the same C names (shop_evolution_*)
 * for the second version, so v1 lives in this translation unit behind the
 * plain functions of fbs_gen.h.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "evolution_v1_birch.h"
#include "fbs_gen.h"

FG_ENUM_CHECK(shop_evolution_Status, 0, shop_evolution_Status_Active, shop_evolution_Status_Suspended)
FG_ENUM_CHECK(shop_evolution_Contact, 0, shop_evolution_Contact_NONE, shop_evolution_Contact_Email)

typedef shop_evolution_Directory_table Directory;
typedef shop_evolution_Profile_table Profile;

const birch_fb_table *ev1_root_desc(void) { return &shop_evolution_Directory_fb; }
const birch_value_format *ev1_format(void) { return &shop_evolution_Directory_format; }

int ev1_verify(const void *buf, size_t n, char *msg, size_t cap)
{
    return shop_evolution_Directory_verify(buf, n, NULL, msg, cap);
}

static const Directory *root_of(const void *buf, size_t n)
{
    char msg[256] = "";
    int rc = shop_evolution_Directory_verify(buf, n, NULL, msg, sizeof msg);
    ck_assert_msg(rc == BIRCH_OK, "%s: evolution_v1's verifier refuses the buffer: %d %s", fg_ctx, rc, msg);
    const Directory *d = shop_evolution_Directory_root(buf, n, 0);
    ck_assert_msg(d != NULL, "%s: no root table", fg_ctx);
    return d;
}

/* The contact union of a v1 profile: type, value and as_Email agree. */
static void ck_contact(const Profile *t, const jv *j)
{
    const jv *jc = jget(j, "contact");
    ck_shop_evolution_Contact("v1 Profile.contact_type", shop_evolution_Profile_contact_type(t), -1,
                              jget(j, "contact_type"), shop_evolution_Contact_NONE);
    ck_assert_msg(shop_evolution_Profile_contact_present(t) == (jc != NULL),
                  "%s: v1 Profile.contact_present is %d, JSON %s one", fg_ctx,
                  shop_evolution_Profile_contact_present(t), jc ? "has" : "has no");
    fg_has("v1 Profile.contact", shop_evolution_Profile_contact(t), jc);
    const shop_evolution_Email_table *e = shop_evolution_Profile_contact_as_Email(t);
    ck_assert_msg((e != NULL) == (shop_evolution_Profile_contact_type(t) == shop_evolution_Contact_Email),
                  "%s: v1 Profile.contact_as_Email is %p for contact_type %u", fg_ctx, (const void *)e,
                  shop_evolution_Profile_contact_type(t));
    if (e) {
        ck_assert_msg((const void *)e == shop_evolution_Profile_contact(t),
                      "%s: v1 Profile.contact_as_Email is not the union's value", fg_ctx);
        CK_STR(shop_evolution_Email, e, jc, address);
        CK_BOOL(shop_evolution_Email, e, jc, verified, 0);
    }
}

static void ck_scores(const Profile *t, const jv *j)
{
    const jv *a = jget(j, "scores");
    size_t n = CK_VEC(shop_evolution_Profile, t, j, scores, 4);
    for (size_t i = 0; i < n; i++) {
        fg_int("v1 Profile.scores[i]", shop_evolution_Profile_scores_at(t, i), -1, jat(a, i), 0);
        ck_assert_msg(shop_evolution_Profile_scores(t)[i] == shop_evolution_Profile_scores_at(t, i),
                      "%s: v1 Profile.scores()[%zu] differs from scores_at", fg_ctx, i);
    }
    ck_assert_msg(shop_evolution_Profile_scores_at(t, n) == 0, "%s: v1 Profile.scores_at past the end is not 0", fg_ctx);
}

static void ck_profile(const Profile *t, const jv *j)
{
    CK_UINT(shop_evolution_Profile, t, j, id, 0);
    CK_STR(shop_evolution_Profile, t, j, name);
    CK_UINT(shop_evolution_Profile, t, j, age, 0);
    CK_ENUM(shop_evolution_Status, shop_evolution_Profile, t, j, status, shop_evolution_Status_Active);
    ck_contact(t, j);
    ck_scores(t, j);
}

/* The profiles vector: sorted by id, each JSON profile found by its key,
 * absent keys not found. */
static void ck_profiles(const Directory *d, const jv *j, void (*ck)(const Profile *, const jv *))
{
    const jv *ps = jget(j, "profiles");
    size_t n = CK_VECN(shop_evolution_Directory, d, j, profiles);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(shop_evolution_Profile_id(shop_evolution_Directory_profiles_at(d, i - 1)) <
                          shop_evolution_Profile_id(shop_evolution_Directory_profiles_at(d, i)),
                      "%s: v1 Directory.profiles not sorted by id at %zu", fg_ctx, i);
    for (size_t i = 0; i < n; i++) {
        const jv *p = jat(ps, i);
        uint64_t id = fg_ju(jget(p, "id"), 0);
        const Profile *t = shop_evolution_Directory_profiles_find_by_id(d, id);
        ck_assert_msg(t != NULL, "%s: v1 Directory.profiles_find_by_id(%llu) finds nothing", fg_ctx,
                      (unsigned long long)id);
        ck_assert_msg(shop_evolution_Profile_id(t) == id, "%s: v1 find_by_id(%llu) finds id %llu", fg_ctx,
                      (unsigned long long)id, (unsigned long long)shop_evolution_Profile_id(t));
        ck(t, p);
    }
    static const uint64_t absent[] = {2, 8, 1000, 1002, UINT64_MAX - 1};
    for (size_t k = 0; k < sizeof absent / sizeof absent[0]; k++)
        ck_assert_msg(shop_evolution_Directory_profiles_find_by_id(d, absent[k]) == NULL,
                      "%s: v1 Directory.profiles_find_by_id(%llu) finds a profile", fg_ctx,
                      (unsigned long long)absent[k]);
}

void ev1_check(const void *buf, size_t n, const void *root, const jv *j)
{
    const Directory *d = root ? (const Directory *)root : root_of(buf, n);
    ck_profiles(d, j, ck_profile);
}

/* A v2 profile through v1. */
static void ck_v2_profile(const Profile *t, const jv *j)
{
    CK_UINT(shop_evolution_Profile, t, j, id, 0);
    CK_STR(shop_evolution_Profile, t, j, name);
    ck_assert_msg(jget(j, "age") == NULL, "%s: v2 JSON sets the deprecated age", fg_ctx);
    ck_assert_msg(!shop_evolution_Profile_age_present(t) && shop_evolution_Profile_age(t) == 0,
                  "%s: v1 reads age %u (present %d) in v2 data, which has none", fg_ctx, shop_evolution_Profile_age(t),
                  shop_evolution_Profile_age_present(t));
    const jv *st = jget(j, "status");
    if (st && st->t == 's' && !strcmp(st->s, "Deleted")) { /* v2's new value 2 */
        ck_assert_msg(shop_evolution_Profile_status(t) == 2 && shop_evolution_Profile_status_present(t),
                      "%s: v1 reads v2's Status Deleted as %d, not the stored 2", fg_ctx,
                      (int)shop_evolution_Profile_status(t));
        ck_assert_msg(shop_evolution_Status_name(shop_evolution_Profile_status(t)) == NULL,
                      "%s: v1's Status_name names v2's Deleted", fg_ctx);
    } else {
        CK_ENUM(shop_evolution_Status, shop_evolution_Profile, t, j, status, shop_evolution_Status_Active);
    }
    const jv *ct = jget(j, "contact_type");
    if (ct && !strcmp(ct->s, "Phone")) { /* v2's new member 2: an unknown type to v1 */
        ck_assert_msg(shop_evolution_Profile_contact_type(t) == 2, "%s: v1 reads v2's Phone contact as type %u",
                      fg_ctx, shop_evolution_Profile_contact_type(t));
        ck_assert_msg(shop_evolution_Contact_name(shop_evolution_Profile_contact_type(t)) == NULL,
                      "%s: v1's Contact_name names v2's Phone", fg_ctx);
        ck_assert_msg(shop_evolution_Profile_contact_present(t), "%s: v1 sees no contact value", fg_ctx);
        ck_assert_msg(shop_evolution_Profile_contact(t) == NULL && shop_evolution_Profile_contact_as_Email(t) == NULL,
                      "%s: v1 gives a value for a contact of a type it does not know", fg_ctx);
    } else {
        ck_contact(t, j);
    }
    ck_scores(t, j);
}

void ev1_check_v2_data(const void *buf, size_t n, const jv *j2)
{
    ck_profiles(root_of(buf, n), j2, ck_v2_profile);
}

unsigned ev1_age(const void *buf, size_t n, uint64_t id, int *present)
{
    const Profile *t = shop_evolution_Directory_profiles_find_by_id(root_of(buf, n), id);
    ck_assert_msg(t != NULL, "%s: v1 finds no profile %llu", fg_ctx, (unsigned long long)id);
    *present = shop_evolution_Profile_age_present(t);
    return shop_evolution_Profile_age(t);
}

/* evolution_v1.json: Ann (1001) with every field, then 7 with an empty
 * name and scores; evolution_v1_min.json: one empty profile. */
birch_val ev1_build(birch_fb_builder *b, int min)
{
    birch_fb_ref profiles[2];
    size_t np = 0;
    if (min) {
        shop_evolution_Profile_start(b);
        profiles[np++] = shop_evolution_Profile_end(b);
    } else {
        birch_fb_ref name = birch_fb_cstring(b, "Ann");
        birch_fb_ref addr = birch_fb_cstring(b, "ann@example.com");
        shop_evolution_Email_start(b);
        shop_evolution_Email_add_address(b, addr);
        shop_evolution_Email_add_verified(b, 1);
        birch_fb_ref email = shop_evolution_Email_end(b);
        static const int32_t scores[] = {3, -1, 2147483647};
        birch_fb_ref sc = shop_evolution_Profile_vec_scores(b, scores, 3);
        shop_evolution_Profile_start(b);
        shop_evolution_Profile_add_id(b, 1001);
        shop_evolution_Profile_add_name(b, name);
        shop_evolution_Profile_add_age(b, 41);
        shop_evolution_Profile_add_status(b, shop_evolution_Status_Suspended);
        shop_evolution_Profile_add_contact_as_Email(b, email);
        shop_evolution_Profile_add_scores(b, sc);
        profiles[np++] = shop_evolution_Profile_end(b);

        birch_fb_ref empty = birch_fb_cstring(b, "");
        birch_fb_ref none = shop_evolution_Profile_vec_scores(b, NULL, 0);
        shop_evolution_Profile_start(b);
        shop_evolution_Profile_add_id(b, 7);
        shop_evolution_Profile_add_name(b, empty);
        shop_evolution_Profile_add_age(b, 255);
        shop_evolution_Profile_add_scores(b, none);
        profiles[np++] = shop_evolution_Profile_end(b);
    }
    birch_fb_ref pv = shop_evolution_Directory_vec_profiles(b, profiles, np);
    shop_evolution_Directory_start(b);
    shop_evolution_Directory_add_profiles(b, pv);
    birch_fb_ref root = shop_evolution_Directory_end(b);
    birch_val out = {NULL, 0};
    int rc = shop_evolution_Directory_finish(b, root, 0, &out);
    ck_assert_msg(rc == BIRCH_OK, "evolution_v1%s: finish returned %d (%s)", min ? "_min" : "", rc, birch_errmsg());
    return out;
}

void ev1_walk(fg_bounds *bd, const void *buf, size_t n)
{
    const Directory *d = shop_evolution_Directory_root(buf, n, 0);
    fg_in(bd, d, 4, "v1 Directory");
    size_t np = shop_evolution_Directory_profiles_len(d);
    bd->sum += (uint64_t)shop_evolution_Directory_profiles_present(d);
    for (size_t i = 0; i < np; i++) {
        const Profile *t = shop_evolution_Directory_profiles_at(d, i);
        fg_in(bd, t, 4, "v1 Profile");
        bd->sum += shop_evolution_Profile_id(t) + shop_evolution_Profile_age(t) + shop_evolution_Profile_age_present(t) +
                   (uint64_t)shop_evolution_Profile_status(t) + shop_evolution_Profile_status_present(t) +
                   shop_evolution_Profile_id_present(t);
        const char *st = shop_evolution_Status_name(shop_evolution_Profile_status(t));
        bd->sum += st ? (uint64_t)st[0] : 0;
        fg_in_str(bd, shop_evolution_Profile_name(t), "v1 Profile.name");
        bd->sum += shop_evolution_Profile_name_len(t) + shop_evolution_Profile_name_present(t);
        bd->sum += shop_evolution_Profile_contact_type(t) + shop_evolution_Profile_contact_present(t);
        const void *c = shop_evolution_Profile_contact(t);
        if (c) fg_in(bd, c, 4, "v1 Profile.contact");
        const shop_evolution_Email_table *e = shop_evolution_Profile_contact_as_Email(t);
        if (e) {
            fg_in_str(bd, shop_evolution_Email_address(e), "v1 Email.address");
            bd->sum += shop_evolution_Email_address_len(e) + shop_evolution_Email_verified(e) +
                       shop_evolution_Email_verified_present(e);
        }
        size_t ns = shop_evolution_Profile_scores_len(t);
        fg_in(bd, shop_evolution_Profile_scores(t), ns * 4, "v1 Profile.scores");
        for (size_t k = 0; k <= ns; k++) bd->sum += (uint64_t)shop_evolution_Profile_scores_at(t, k);
        bd->sum += shop_evolution_Profile_scores_present(t);
        /* The key search over what was read. */
        const Profile *f = shop_evolution_Directory_profiles_find_by_id(d, shop_evolution_Profile_id(t));
        if (f) fg_in(bd, f, 4, "v1 find_by_id");
    }
}
