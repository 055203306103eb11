/*
 * test_acl.c - CUnit tests of the sender ACL (dataplane/acl.c).
 *
 * The parser is held to the forms telemetry.allow documents (an address,
 * or an address and a prefix, IPv4 or IPv6) and refuses everything else;
 * the builder to merging (duplicates, overlaps, adjacent networks, the ends
 * of the address space) and to DP_ACL_MAX; the lookup to every boundary of
 * every range (first and last address in, the ones just outside out), to
 * the independence of the two families, and to a brute-force check over
 * random networks. Last, a real frame classified by dp_classify is looked
 * up the way a worker does, so the source address is read where
 * dp_classify says the IP header is (behind VLAN tags too).
 *
 * No EAL: the ACL is plain memory.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "cunit_main.h"
#include "dataplane.h"
#include "frames.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* Parse a network the test knows is good (a failure is the test's bug, shown). */
static struct dp_acl_net
net(const char *text)
{
	struct dp_acl_net n;
	int rc = dp_acl_net_parse(text, &n);

	if (rc != 0)
		fprintf(stderr, "\n  net(\"%s\") = %d", text, rc);
	CU_ASSERT_EQUAL(rc, 0);
	return n;
}

/* An ACL of the networks in @p texts (NULL-terminated). */
static struct dp_acl *
acl_of(const char *const *texts)
{
	struct dp_acl_net nets[64];
	struct dp_acl *acl = NULL;
	unsigned n = 0;
	int rc;

	while (texts[n] != NULL && n < 64) {
		nets[n] = net(texts[n]);
		n++;
	}
	rc = dp_acl_new(nets, n, &acl);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(acl);
	return acl;
}

/*
 * Ask the ACL about one address the way a worker does: an IP header at
 * l3_off (odd on purpose, as behind one VLAN tag plus a byte: the lookup
 * must not assume alignment) with the address in the source field.
 */
static bool
allows(const struct dp_acl *acl, int version, const char *addr)
{
	uint8_t frame[128];
	struct dp_pkt pkt;
	uint8_t raw[16];

	memset(frame, 0xa5, sizeof(frame));
	memset(&pkt, 0, sizeof(pkt));
	pkt.l3_off = 19;
	pkt.ip_version = (uint8_t)version;
	if (inet_pton(version == 4 ? AF_INET : AF_INET6, addr, raw) != 1) {
		fprintf(stderr, "\n  bad test address %s", addr);
		CU_FAIL("bad test address");
		return false;
	}
	if (version == 4)
		memcpy(frame + pkt.l3_off + 12, raw, 4);
	else
		memcpy(frame + pkt.l3_off + 8, raw, 16);
	return dp_acl_allows(acl, frame, &pkt);
}

static bool
allows4(const struct dp_acl *acl, const char *addr)
{
	return allows(acl, 4, addr);
}

static bool
allows6(const struct dp_acl *acl, const char *addr)
{
	return allows(acl, 6, addr);
}

/* ------------------------------------------------------------------------ */
/* Parsing                                                                   */
/* ------------------------------------------------------------------------ */

static void
expect_net(const char *text, int version, unsigned prefix, const char *addr)
{
	struct dp_acl_net n, want;
	int rc;

	memset(&want, 0, sizeof(want));
	inet_pton(version == 4 ? AF_INET : AF_INET6, addr, want.addr);
	rc = dp_acl_net_parse(text, &n);
	if (rc != 0 || n.ip_version != version || n.prefix != prefix ||
	    memcmp(n.addr, want.addr, 16) != 0)
		fprintf(stderr, "\n  \"%s\": rc %d, v%u /%u", text, rc, n.ip_version, n.prefix);
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(n.ip_version, version);
	CU_ASSERT_EQUAL(n.prefix, prefix);
	CU_ASSERT_EQUAL(memcmp(n.addr, want.addr, 16), 0);
}

static void
test_parse_good(void)
{
	expect_net("10.20.0.0/16", 4, 16, "10.20.0.0");
	expect_net("10.1.2.3", 4, 32, "10.1.2.3");
	expect_net("10.1.2.3/32", 4, 32, "10.1.2.3");
	expect_net("0.0.0.0/0", 4, 0, "0.0.0.0");
	expect_net("255.255.255.255", 4, 32, "255.255.255.255");
	expect_net("192.168.1.128/25", 4, 25, "192.168.1.128");
	expect_net("128.0.0.0/1", 4, 1, "128.0.0.0");
	expect_net("fd00::/8", 6, 8, "fd00::");
	expect_net("2001:db8::1", 6, 128, "2001:db8::1");
	expect_net("2001:DB8::/32", 6, 32, "2001:db8::");
	expect_net("::/0", 6, 0, "::");
	expect_net("2001:db8:0:1::/64", 6, 64, "2001:db8:0:1::");
	expect_net("2001:db8:0:1:8000::/65", 6, 65, "2001:db8:0:1:8000::");
	expect_net("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 6, 128,
		   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	/* An IPv4-mapped address is an IPv6 network: it matches IPv6 packets. */
	expect_net("::ffff:10.0.0.0/104", 6, 104, "::ffff:10.0.0.0");
}

static void
expect_bad(const char *text)
{
	struct dp_acl_net n;
	int rc;

	memset(&n, 0x5a, sizeof(n));
	rc = dp_acl_net_parse(text, &n);
	if (rc != -EINVAL || n.ip_version != 0)
		fprintf(stderr, "\n  \"%s\": rc %d, v%u", text ? text : "(null)", rc, n.ip_version);
	CU_ASSERT_EQUAL(rc, -EINVAL);
	CU_ASSERT_EQUAL(n.ip_version, 0); /* not taken for a network with host bits */
}

static void
test_parse_bad(void)
{
	static const char *const bad[] = {
		"",
		"10.0.0.0/33",
		"10.0.0.0/100",
		"10.0.0.0/1000",
		"fd00::/129",
		"fd00::/200",
		"10.0.0.0/",
		"fd00::/",
		"/8",
		"10.0.0.0/-1",
		"10.0.0.0/+8",
		"10.0.0.0/08",
		"10.0.0.0/0x8",
		"10.0.0.0/8/8",
		"10.0.0.0/8 ",
		" 10.0.0.0/8",
		"10.0.0.0 /8",
		"10.0.0.0/ 8",
		"10.0.0",
		"10.0.0.256",
		"10.0.0.0.0",
		"010.0.0.0/8",
		"1::2::3",
		"fe80::1%eth0",
		"fd00::g",
		"monitor.ward3.local",
		"any",
		"10.0.0.0/8,10.1.0.0/16",
		"10.0.0.0\n",
		"0000:0000:0000:0000:0000:0000:0000:0000:0000/128 is far too long to be one",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad(bad[i]);
	expect_bad(NULL);
}

/* Host bits under the prefix: refused, with the network meant in *out. */
static void
expect_host_bits(const char *text, int version, unsigned prefix, const char *meant)
{
	struct dp_acl_net n;
	uint8_t want[16] = {0};

	inet_pton(version == 4 ? AF_INET : AF_INET6, meant, want);
	CU_ASSERT_EQUAL(dp_acl_net_parse(text, &n), -EINVAL);
	CU_ASSERT_EQUAL(n.ip_version, version);
	CU_ASSERT_EQUAL(n.prefix, prefix);
	CU_ASSERT_EQUAL(memcmp(n.addr, want, 16), 0);
}

static void
test_parse_host_bits(void)
{
	expect_host_bits("10.0.0.1/8", 4, 8, "10.0.0.0");
	expect_host_bits("10.20.30.40/16", 4, 16, "10.20.0.0");
	expect_host_bits("192.168.1.129/25", 4, 25, "192.168.1.128");
	expect_host_bits("0.0.0.1/0", 4, 0, "0.0.0.0");
	expect_host_bits("10.0.0.1/31", 4, 31, "10.0.0.0");
	expect_host_bits("fd00::1/8", 6, 8, "fd00::");
	expect_host_bits("2001:db8:0:1::1/64", 6, 64, "2001:db8:0:1::");
	expect_host_bits("2001:db8:0:1:c000::/65", 6, 65, "2001:db8:0:1:8000::");
	expect_host_bits("::1/127", 6, 127, "::");
}

/* ------------------------------------------------------------------------ */
/* Building and merging                                                      */
/* ------------------------------------------------------------------------ */

static unsigned
count_of(const char *const *texts)
{
	struct dp_acl *acl = acl_of(texts);
	unsigned n = dp_acl_count(acl);

	dp_acl_free(acl);
	return n;
}

static void
test_merge(void)
{
	static const char *const dup[] = {"10.0.0.0/8", "10.0.0.0/8", "10.0.0.0/8", NULL};
	static const char *const inside[] = {"10.1.0.0/16", "10.0.0.0/8", "10.1.2.3", NULL};
	static const char *const adjacent[] = {"10.0.0.128/25", "10.0.0.0/25", NULL};
	static const char *const apart[] = {"10.0.1.0/24", "10.0.3.0/24", NULL};
	static const char *const chain[] = {"10.0.0.3", "10.0.0.0", "10.0.0.2", "10.0.0.1", NULL};
	static const char *const top[] = {"255.255.255.255", "255.255.255.254", "0.0.0.0", NULL};
	static const char *const all4[] = {"0.0.0.0/0", "10.0.0.0/8", "255.0.0.0/8", NULL};
	static const char *const dup6[] = {"fd00::/8", "fd00::/8", "fd12::/16", NULL};
	static const char *const adj6[] = {"2001:db8:0:1::/64", "2001:db8:0:2::/64",
					   "2001:db8:0:0:8000::/65", "2001:db8::/65", NULL};
	static const char *const apart6[] = {"2001:db8::/64", "2001:db8:0:2::/64", NULL};
	static const char *const top6[] = {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
					   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "::", NULL};
	static const char *const mixed[] = {"10.0.0.0/8", "fd00::/8", "10.0.0.0/8", "fd00::/8",
					    NULL};

	CU_ASSERT_EQUAL(count_of(dup), 1);
	CU_ASSERT_EQUAL(count_of(inside), 1);
	CU_ASSERT_EQUAL(count_of(adjacent), 1);
	CU_ASSERT_EQUAL(count_of(apart), 2);
	CU_ASSERT_EQUAL(count_of(chain), 1);
	CU_ASSERT_EQUAL(count_of(top), 2);
	CU_ASSERT_EQUAL(count_of(all4), 1);
	CU_ASSERT_EQUAL(count_of(dup6), 1);
	CU_ASSERT_EQUAL(count_of(adj6), 1);
	CU_ASSERT_EQUAL(count_of(apart6), 2);
	CU_ASSERT_EQUAL(count_of(top6), 2);
	CU_ASSERT_EQUAL(count_of(mixed), 2);
}

/* Merging keeps what each network allowed and adds nothing in between. */
static void
test_merge_keeps_gaps(void)
{
	static const char *const apart[] = {"10.0.3.0/24", "10.0.1.0/24", "10.0.1.0/25", NULL};
	static const char *const adj6[] = {"2001:db8:0:1::/64", "2001:db8::/64", NULL};
	struct dp_acl *acl = acl_of(apart);

	CU_ASSERT_FALSE(allows4(acl, "10.0.0.255"));
	CU_ASSERT_TRUE(allows4(acl, "10.0.1.0"));
	CU_ASSERT_TRUE(allows4(acl, "10.0.1.255"));
	CU_ASSERT_FALSE(allows4(acl, "10.0.2.0"));
	CU_ASSERT_FALSE(allows4(acl, "10.0.2.255"));
	CU_ASSERT_TRUE(allows4(acl, "10.0.3.0"));
	CU_ASSERT_TRUE(allows4(acl, "10.0.3.255"));
	CU_ASSERT_FALSE(allows4(acl, "10.0.4.0"));
	dp_acl_free(acl);

	acl = acl_of(adj6);
	CU_ASSERT_EQUAL(dp_acl_count(acl), 1);
	CU_ASSERT_FALSE(allows6(acl, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"));
	CU_ASSERT_TRUE(allows6(acl, "2001:db8::"));
	CU_ASSERT_TRUE(allows6(acl, "2001:db8:0:0:ffff:ffff:ffff:ffff"));
	CU_ASSERT_TRUE(allows6(acl, "2001:db8:0:1::"));
	CU_ASSERT_TRUE(allows6(acl, "2001:db8:0:1:ffff:ffff:ffff:ffff"));
	CU_ASSERT_FALSE(allows6(acl, "2001:db8:0:2::"));
	dp_acl_free(acl);
}

static void
test_new_refuses(void)
{
	struct dp_acl_net nets[2];
	struct dp_acl *acl = (struct dp_acl *)&acl; /* anything but NULL */

	nets[0] = net("10.0.0.0/8");
	nets[1] = nets[0];

	nets[1].ip_version = 5;
	CU_ASSERT_EQUAL(dp_acl_new(nets, 2, &acl), -EINVAL);
	CU_ASSERT_PTR_NULL(acl);

	nets[1] = nets[0];
	nets[1].prefix = 33;
	CU_ASSERT_EQUAL(dp_acl_new(nets, 2, &acl), -EINVAL);

	nets[1] = net("fd00::/8");
	nets[1].prefix = 129;
	CU_ASSERT_EQUAL(dp_acl_new(nets, 2, &acl), -EINVAL);

	nets[1] = nets[0];
	nets[1].addr[3] = 1; /* 10.0.0.1/8: host bits */
	CU_ASSERT_EQUAL(dp_acl_new(nets, 2, &acl), -EINVAL);

	nets[1] = net("fd00::/8");
	nets[1].addr[15] = 1;
	CU_ASSERT_EQUAL(dp_acl_new(nets, 2, &acl), -EINVAL);

	CU_ASSERT_EQUAL(dp_acl_new(NULL, 1, &acl), -EINVAL);
	CU_ASSERT_PTR_NULL(acl);

	/* Both good: it builds. */
	nets[1] = net("fd00::/8");
	CU_ASSERT_EQUAL(dp_acl_new(nets, 2, &acl), 0);
	CU_ASSERT_EQUAL(dp_acl_count(acl), 2);
	dp_acl_free(acl);
	dp_acl_free(NULL);
}

/* DP_ACL_MAX networks build (none merge: every other /32); one more does not. */
static void
test_max(void)
{
	struct dp_acl_net *nets = calloc(DP_ACL_MAX + 1, sizeof(*nets));
	struct dp_acl *acl = NULL;
	char a[INET_ADDRSTRLEN];

	CU_ASSERT_PTR_NOT_NULL_FATAL(nets);
	for (unsigned i = 0; i <= DP_ACL_MAX; i++) {
		/* 10.0.x.y with y even: never adjacent; listed from the top down. */
		unsigned v = 2 * (DP_ACL_MAX - i);

		snprintf(a, sizeof(a), "10.0.%u.%u", v >> 8, v & 0xff);
		nets[i] = net(a);
	}
	CU_ASSERT_EQUAL(dp_acl_new(nets, DP_ACL_MAX + 1, &acl), -EINVAL);
	CU_ASSERT_PTR_NULL(acl);
	CU_ASSERT_EQUAL_FATAL(dp_acl_new(nets, DP_ACL_MAX, &acl), 0);
	CU_ASSERT_EQUAL(dp_acl_count(acl), DP_ACL_MAX);
	CU_ASSERT_FALSE(dp_acl_allows_all(acl));
	/* nets[DP_ACL_MAX] (10.0.0.0) was left out; 10.0.0.2 .. 10.0.8.0 are in. */
	CU_ASSERT_FALSE(allows4(acl, "10.0.0.0"));
	CU_ASSERT_TRUE(allows4(acl, "10.0.0.2"));
	CU_ASSERT_FALSE(allows4(acl, "10.0.0.3"));
	CU_ASSERT_TRUE(allows4(acl, "10.0.4.0"));
	CU_ASSERT_FALSE(allows4(acl, "10.0.4.1"));
	CU_ASSERT_TRUE(allows4(acl, "10.0.8.0"));
	CU_ASSERT_FALSE(allows4(acl, "10.0.8.1"));
	CU_ASSERT_FALSE(allows4(acl, "10.0.8.2"));
	dp_acl_free(acl);

	/* DP_ACL_MAX adjacent hosts merge into one range. */
	for (unsigned i = 0; i < DP_ACL_MAX; i++) {
		snprintf(a, sizeof(a), "10.1.%u.%u", i >> 8, i & 0xff);
		nets[i] = net(a);
	}
	CU_ASSERT_EQUAL_FATAL(dp_acl_new(nets, DP_ACL_MAX, &acl), 0);
	CU_ASSERT_EQUAL(dp_acl_count(acl), 1);
	CU_ASSERT_FALSE(allows4(acl, "10.0.255.255"));
	CU_ASSERT_TRUE(allows4(acl, "10.1.0.0"));
	CU_ASSERT_TRUE(allows4(acl, "10.1.3.255"));
	CU_ASSERT_FALSE(allows4(acl, "10.1.4.0"));
	dp_acl_free(acl);
	free(nets);
}

/* ------------------------------------------------------------------------ */
/* Lookups                                                                   */
/* ------------------------------------------------------------------------ */

static void
test_boundaries_v4(void)
{
	static const char *const list[] = {"10.0.0.0/24", "192.168.1.128/25",	"172.16.0.5",
					   "0.0.0.0/32",  "255.255.255.255/32", "100.64.0.0/10",
					   NULL};
	struct dp_acl *acl = acl_of(list);

	CU_ASSERT_EQUAL(dp_acl_count(acl), 6);
	CU_ASSERT_FALSE(dp_acl_allows_all(acl));
	/* 10.0.0.0/24 */
	CU_ASSERT_FALSE(allows4(acl, "9.255.255.255"));
	CU_ASSERT_TRUE(allows4(acl, "10.0.0.0"));
	CU_ASSERT_TRUE(allows4(acl, "10.0.0.255"));
	CU_ASSERT_FALSE(allows4(acl, "10.0.1.0"));
	/* 192.168.1.128/25 */
	CU_ASSERT_FALSE(allows4(acl, "192.168.1.127"));
	CU_ASSERT_TRUE(allows4(acl, "192.168.1.128"));
	CU_ASSERT_TRUE(allows4(acl, "192.168.1.255"));
	CU_ASSERT_FALSE(allows4(acl, "192.168.2.0"));
	/* 172.16.0.5 */
	CU_ASSERT_FALSE(allows4(acl, "172.16.0.4"));
	CU_ASSERT_TRUE(allows4(acl, "172.16.0.5"));
	CU_ASSERT_FALSE(allows4(acl, "172.16.0.6"));
	/* the ends of the address space */
	CU_ASSERT_TRUE(allows4(acl, "0.0.0.0"));
	CU_ASSERT_FALSE(allows4(acl, "0.0.0.1"));
	CU_ASSERT_FALSE(allows4(acl, "255.255.255.254"));
	CU_ASSERT_TRUE(allows4(acl, "255.255.255.255"));
	/* 100.64.0.0/10: 100.64.0.0 .. 100.127.255.255 */
	CU_ASSERT_FALSE(allows4(acl, "100.63.255.255"));
	CU_ASSERT_TRUE(allows4(acl, "100.64.0.0"));
	CU_ASSERT_TRUE(allows4(acl, "100.127.255.255"));
	CU_ASSERT_FALSE(allows4(acl, "100.128.0.0"));
	dp_acl_free(acl);
}

static void
test_boundaries_v6(void)
{
	static const char *const list[] = {"2001:db8::/32",
					   "fd00:1:2:3::/64",
					   "fd00:1:2:4:8000::/65",
					   "fd00:1:2:6::/63",
					   "fe80::1",
					   "::/128",
					   "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
					   NULL};
	struct dp_acl *acl = acl_of(list);

	CU_ASSERT_EQUAL(dp_acl_count(acl), 7);
	/* 2001:db8::/32 */
	CU_ASSERT_FALSE(allows6(acl, "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff"));
	CU_ASSERT_TRUE(allows6(acl, "2001:db8::"));
	CU_ASSERT_TRUE(allows6(acl, "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"));
	CU_ASSERT_FALSE(allows6(acl, "2001:db9::"));
	/* a /64: the whole low half */
	CU_ASSERT_FALSE(allows6(acl, "fd00:1:2:2:ffff:ffff:ffff:ffff"));
	CU_ASSERT_TRUE(allows6(acl, "fd00:1:2:3::"));
	CU_ASSERT_TRUE(allows6(acl, "fd00:1:2:3:ffff:ffff:ffff:ffff"));
	CU_ASSERT_FALSE(allows6(acl, "fd00:1:2:4::"));
	/* a /65: the upper half of the low half */
	CU_ASSERT_FALSE(allows6(acl, "fd00:1:2:4:7fff:ffff:ffff:ffff"));
	CU_ASSERT_TRUE(allows6(acl, "fd00:1:2:4:8000::"));
	CU_ASSERT_TRUE(allows6(acl, "fd00:1:2:4:ffff:ffff:ffff:ffff"));
	CU_ASSERT_FALSE(allows6(acl, "fd00:1:2:5::"));
	/* a /63: two /64s */
	CU_ASSERT_FALSE(allows6(acl, "fd00:1:2:5:ffff:ffff:ffff:ffff"));
	CU_ASSERT_TRUE(allows6(acl, "fd00:1:2:6::"));
	CU_ASSERT_TRUE(allows6(acl, "fd00:1:2:7:ffff:ffff:ffff:ffff"));
	CU_ASSERT_FALSE(allows6(acl, "fd00:1:2:8::"));
	/* a host */
	CU_ASSERT_FALSE(allows6(acl, "fe80::"));
	CU_ASSERT_TRUE(allows6(acl, "fe80::1"));
	CU_ASSERT_FALSE(allows6(acl, "fe80::2"));
	/* the ends of the address space */
	CU_ASSERT_TRUE(allows6(acl, "::"));
	CU_ASSERT_FALSE(allows6(acl, "::1"));
	CU_ASSERT_FALSE(allows6(acl, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"));
	CU_ASSERT_TRUE(allows6(acl, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	dp_acl_free(acl);
}

/* An IPv4 list says nothing about IPv6 senders, and the other way round. */
static void
test_families_independent(void)
{
	static const char *const v4[] = {"0.0.0.0/0", NULL};
	static const char *const v6[] = {"::/0", NULL};
	static const char *const mapped[] = {"::ffff:10.0.0.0/104", NULL};
	struct dp_acl *acl = acl_of(v4);

	CU_ASSERT_FALSE(dp_acl_allows_all(acl));
	CU_ASSERT_TRUE(allows4(acl, "0.0.0.0"));
	CU_ASSERT_TRUE(allows4(acl, "10.1.2.3"));
	CU_ASSERT_TRUE(allows4(acl, "255.255.255.255"));
	CU_ASSERT_FALSE(allows6(acl, "::"));
	CU_ASSERT_FALSE(allows6(acl, "::ffff:10.1.2.3"));
	CU_ASSERT_FALSE(allows6(acl, "2001:db8::1"));
	dp_acl_free(acl);

	acl = acl_of(v6);
	CU_ASSERT_FALSE(dp_acl_allows_all(acl));
	CU_ASSERT_TRUE(allows6(acl, "::"));
	CU_ASSERT_TRUE(allows6(acl, "2001:db8::1"));
	CU_ASSERT_TRUE(allows6(acl, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
	CU_ASSERT_FALSE(allows4(acl, "0.0.0.0"));
	CU_ASSERT_FALSE(allows4(acl, "10.1.2.3"));
	dp_acl_free(acl);

	/* An IPv4-mapped IPv6 network is not the IPv4 network. */
	acl = acl_of(mapped);
	CU_ASSERT_TRUE(allows6(acl, "::ffff:10.1.2.3"));
	CU_ASSERT_FALSE(allows4(acl, "10.1.2.3"));
	dp_acl_free(acl);
}

static void
test_allow_all(void)
{
	static const char *const both[] = {"::/0", "10.0.0.0/8", "0.0.0.0/0", NULL};
	struct dp_acl *acl = NULL;
	struct dp_pkt pkt;
	uint8_t frame[64] = {0};

	CU_ASSERT_EQUAL_FATAL(dp_acl_new(NULL, 0, &acl), 0);
	CU_ASSERT_PTR_NOT_NULL(acl);
	CU_ASSERT_TRUE(dp_acl_allows_all(acl));
	CU_ASSERT_EQUAL(dp_acl_count(acl), 0);
	CU_ASSERT_TRUE(allows4(acl, "10.1.2.3"));
	CU_ASSERT_TRUE(allows6(acl, "2001:db8::1"));
	dp_acl_free(acl);

	/* NULL allows everything too (dp_acl_publish(NULL)). */
	CU_ASSERT_TRUE(dp_acl_allows_all(NULL));
	CU_ASSERT_EQUAL(dp_acl_count(NULL), 0);
	CU_ASSERT_TRUE(allows4(NULL, "10.1.2.3"));
	CU_ASSERT_TRUE(allows6(NULL, "2001:db8::1"));

	/* Both families whole: everyone, said so. */
	acl = acl_of(both);
	CU_ASSERT_TRUE(dp_acl_allows_all(acl));
	CU_ASSERT_EQUAL(dp_acl_count(acl), 2);
	CU_ASSERT_TRUE(allows4(acl, "10.1.2.3"));
	CU_ASSERT_TRUE(allows6(acl, "2001:db8::1"));

	/* A list that is not everyone refuses what is not IP (no source). */
	dp_acl_free(acl);
	acl = acl_of((const char *const[]){"0.0.0.0/0", NULL});
	memset(&pkt, 0, sizeof(pkt));
	pkt.ip_version = 0;
	CU_ASSERT_FALSE(dp_acl_allows(acl, frame, &pkt));
	dp_acl_free(acl);
}

/* ------------------------------------------------------------------------ */
/* Against a brute force                                                     */
/* ------------------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t
rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static bool
net_contains(const struct dp_acl_net *n, const uint8_t *addr)
{
	for (unsigned i = 0; i < n->prefix; i++) {
		uint8_t bit = (uint8_t)(0x80 >> (i % 8));

		if ((n->addr[i / 8] & bit) != (addr[i / 8] & bit))
			return false;
	}
	return true;
}

/*
 * Random networks crowded into a small space (so they overlap and touch),
 * then addresses at and around every network's ends and at random: the
 * ACL answers what a linear scan of the networks answers.
 */
static void
test_random_vs_linear(void)
{
	enum { ROUNDS = 40, NETS = 48, PROBES = 64 };
	unsigned wrong = 0, checked = 0, inside = 0;

	for (unsigned round = 0; round < ROUNDS; round++) {
		struct dp_acl_net nets[NETS];
		struct dp_acl *acl = NULL;
		int version = round % 2 ? 6 : 4;
		unsigned bytes = version == 4 ? 4 : 16;

		memset(nets, 0, sizeof(nets));
		for (unsigned i = 0; i < NETS; i++) {
			struct dp_acl_net *n = &nets[i];
			unsigned bits = bytes * 8;

			n->ip_version = (uint8_t)version;
			/* prefixes near the end, so ranges are small and collide */
			n->prefix = (uint8_t)(bits - rng() % 12);
			if (version == 6 && rng() % 4 == 0)
				n->prefix = (uint8_t)(60 + rng() % 8); /* across the halves */
			n->addr[0] = 10;
			for (unsigned b = bytes - 2; b < bytes; b++)
				n->addr[b] = (uint8_t)rng();
			if (version == 6 && n->prefix < 68)
				n->addr[7] = (uint8_t)(rng() % 4);
			for (unsigned b = 0; b < bytes; b++) {
				unsigned keep = n->prefix >= (b + 1) * 8 ? 8
						: n->prefix > b * 8	 ? n->prefix - b * 8
									 : 0;

				n->addr[b] &= (uint8_t)(0xff00u >> keep);
			}
		}
		CU_ASSERT_EQUAL_FATAL(dp_acl_new(nets, NETS, &acl), 0);
		for (unsigned p = 0; p < NETS * 3 + PROBES; p++) {
			uint8_t frame[64] = {0}, addr[16];
			struct dp_pkt pkt = {.l3_off = 14, .ip_version = (uint8_t)version};
			bool want = false, got;

			if (p < NETS * 3) {
				/* network p/3's first address, minus one, or its last plus one */
				const struct dp_acl_net *n = &nets[p / 3];
				unsigned bits = bytes * 8;

				memcpy(addr, n->addr, 16);
				if (p % 3 == 1) { /* last + 1: set host bits, then carry */
					for (unsigned i = n->prefix; i < bits; i++)
						addr[i / 8] |= (uint8_t)(0x80 >> (i % 8));
				}
				if (p % 3 != 0) {
					int d = p % 3 == 1 ? 1 : -1;

					for (int b = (int)bytes - 1; b >= 0; b--) {
						uint8_t old = addr[b];

						addr[b] = (uint8_t)(addr[b] + d);
						if ((d > 0 && old != 0xff) || (d < 0 && old != 0))
							break;
					}
				}
			} else {
				memcpy(addr, nets[rng() % NETS].addr, 16);
				addr[bytes - 1] = (uint8_t)rng();
				addr[bytes - 2] ^= (uint8_t)(rng() % 3);
			}
			for (unsigned i = 0; i < NETS; i++)
				want = want || net_contains(&nets[i], addr);
			memcpy(frame + pkt.l3_off + (version == 4 ? 12 : 8), addr, bytes);
			got = dp_acl_allows(acl, frame, &pkt);
			wrong += got != want;
			inside += want;
			checked++;
		}
		dp_acl_free(acl);
	}
	if (wrong != 0)
		fprintf(stderr, "\n  %u of %u lookups disagree with the linear scan", wrong,
			checked);
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT_EQUAL(checked, ROUNDS * (NETS * 3 + PROBES));
	/* The probes land on both sides (else the comparison proves little). */
	CU_ASSERT(inside > checked / 5 && inside < checked - checked / 5);
}

/* ------------------------------------------------------------------------ */
/* A real frame, as a worker sees it                                         */
/* ------------------------------------------------------------------------ */

#define OUR_V4 0xc0000201u    /* 192.0.2.1 */
#define SENDER_V4 0x0a140005u /* 10.20.0.5 */
#define HL7_PORT 2575

static const uint8_t our_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x10};
static const uint8_t our_v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x01};
static const uint8_t sender_v6[16] = {0xfd, 0x00, 0x00,	      0x00,
				      0x00, 0x20, [15] = 0x05}; /* fd00:0:20::5 */
static const char hl7_msg[] = "\x0bMSH|^~\\&|MON01|ICU3|VIGIL|HOSP|20240301120000||ORU^R01|"
			      "MSG0001|P|2.6\r\x1c\r";

static void
local_init(struct dp_local *l)
{
	memset(l, 0, sizeof(*l));
	memcpy(l->mac, our_mac, 6);
	l->n_ipv4 = 1;
	l->ipv4[0] = htonl(OUR_V4);
	l->n_ipv6 = 1;
	memcpy(l->ipv6[0], our_v6, 16);
	l->n_hl7_ports = 1;
	l->hl7_ports[0] = HL7_PORT;
	l->udp_checksum = true;
}

static struct fr_l2
l2_to_us(unsigned n_vlan)
{
	struct fr_l2 l2;

	memset(&l2, 0, sizeof(l2));
	memcpy(l2.dst, our_mac, 6);
	memcpy(l2.src, peer_mac, 6);
	l2.n_vlan = (uint8_t)n_vlan;
	for (unsigned i = 0; i < n_vlan; i++)
		l2.vlan_tci[i] = (uint16_t)(100 * (i + 1));
	return l2;
}

static void
test_classified_frame(void)
{
	static const char *const ward[] = {"10.20.0.0/16", "fd00:0:20::/48", NULL};
	static const char *const other[] = {"10.21.0.0/16", "fd00:0:21::/48", NULL};
	/* The appliance's own addresses: the ACL must look at the source. */
	static const char *const dest[] = {"192.0.2.1", "2001:db8::1", NULL};
	struct dp_acl *a_ward = acl_of(ward), *a_other = acl_of(other), *a_dest = acl_of(dest);
	struct dp_local local;

	local_init(&local);
	for (unsigned n_vlan = 0; n_vlan <= 2; n_vlan++) {
		struct fr_l2 l2 = l2_to_us(n_vlan);
		uint8_t *f = malloc(2048);
		struct dp_pkt pkt;
		size_t len;

		CU_ASSERT_PTR_NOT_NULL_FATAL(f);
		len = fr_udp4(f, 2048, &l2, SENDER_V4, OUR_V4, 40000, HL7_PORT, hl7_msg,
			      sizeof(hl7_msg) - 1);
		CU_ASSERT_FATAL(len > 0);
		CU_ASSERT_EQUAL_FATAL(dp_classify(&local, f, (uint32_t)len, 0, &pkt),
				      DP_VERDICT_HL7);
		CU_ASSERT_EQUAL(pkt.ip_version, 4);
		CU_ASSERT_EQUAL(pkt.l3_off, 14 + 4 * n_vlan);
		CU_ASSERT_TRUE(dp_acl_allows(a_ward, f, &pkt));
		CU_ASSERT_FALSE(dp_acl_allows(a_other, f, &pkt));
		CU_ASSERT_FALSE(dp_acl_allows(a_dest, f, &pkt));

		len = fr_udp6(f, 2048, &l2, sender_v6, our_v6, 40000, HL7_PORT, hl7_msg,
			      sizeof(hl7_msg) - 1);
		CU_ASSERT_FATAL(len > 0);
		CU_ASSERT_EQUAL_FATAL(dp_classify(&local, f, (uint32_t)len, 0, &pkt),
				      DP_VERDICT_HL7);
		CU_ASSERT_EQUAL(pkt.ip_version, 6);
		CU_ASSERT_TRUE(dp_acl_allows(a_ward, f, &pkt));
		CU_ASSERT_FALSE(dp_acl_allows(a_other, f, &pkt));
		CU_ASSERT_FALSE(dp_acl_allows(a_dest, f, &pkt));
		free(f);
	}
	dp_acl_free(a_ward);
	dp_acl_free(a_other);
	dp_acl_free(a_dest);
}

/* ------------------------------------------------------------------------ */
/* Registration                                                              */
/* ------------------------------------------------------------------------ */

struct test_entry {
	const char *name;
	CU_TestFunc fn;
};

static int
add_suite(const char *name, const struct test_entry *tests, size_t n)
{
	CU_pSuite suite = CU_add_suite(name, NULL, NULL);

	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}

#define ADD_SUITE(name, tests) add_suite(name, tests, sizeof(tests) / sizeof(tests[0]))

int
vigil_test_register(void)
{
	static const struct test_entry parse[] = {
		{"good forms", test_parse_good},
		{"bad forms", test_parse_bad},
		{"host bits under the prefix", test_parse_host_bits},
	};
	static const struct test_entry build[] = {
		{"merging", test_merge},
		{"merging keeps the gaps", test_merge_keeps_gaps},
		{"bad entries refused", test_new_refuses},
		{"DP_ACL_MAX", test_max},
	};
	static const struct test_entry lookup[] = {
		{"IPv4 boundaries", test_boundaries_v4},
		{"IPv6 boundaries", test_boundaries_v6},
		{"families independent", test_families_independent},
		{"allow all", test_allow_all},
		{"random networks vs a linear scan", test_random_vs_linear},
		{"a classified frame", test_classified_frame},
	};

	if (ADD_SUITE("acl parse", parse) < 0 || ADD_SUITE("acl build", build) < 0 ||
	    ADD_SUITE("acl lookup", lookup) < 0)
		return -1;
	return 0;
}
