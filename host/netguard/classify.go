package netguard

import "net/netip"

// Class names why an address is forbidden.
type Class string

// The forbidden classes of addresses. An IPv6 address that embeds an IPv4
// address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) takes the class of
// the embedded address.
const (
	ClassLoopback    Class = "loopback"
	ClassPrivate     Class = "private"
	ClassLinkLocal   Class = "link-local"
	ClassMetadata    Class = "cloud metadata"
	ClassCGNAT       Class = "carrier-grade NAT"
	ClassUnspecified Class = "unspecified"
	ClassMulticast   Class = "multicast"
	ClassBroadcast   Class = "broadcast"
	ClassDoc         Class = "documentation"
	ClassReserved    Class = "reserved"
)

type classRange struct {
	p     netip.Prefix
	class Class
}

// Ordered: the first prefix that contains an address gives its class, so
// the metadata addresses come before the ranges that hold them.
var v4Ranges = []classRange{
	{netip.MustParsePrefix("169.254.169.254/32"), ClassMetadata},
	{netip.MustParsePrefix("100.100.100.200/32"), ClassMetadata}, // Alibaba Cloud
	{netip.MustParsePrefix("0.0.0.0/8"), ClassUnspecified},       // "this network"
	{netip.MustParsePrefix("127.0.0.0/8"), ClassLoopback},
	{netip.MustParsePrefix("10.0.0.0/8"), ClassPrivate},
	{netip.MustParsePrefix("172.16.0.0/12"), ClassPrivate},
	{netip.MustParsePrefix("192.168.0.0/16"), ClassPrivate},
	{netip.MustParsePrefix("169.254.0.0/16"), ClassLinkLocal},
	{netip.MustParsePrefix("100.64.0.0/10"), ClassCGNAT},
	{netip.MustParsePrefix("255.255.255.255/32"), ClassBroadcast},
	{netip.MustParsePrefix("224.0.0.0/4"), ClassMulticast},
	{netip.MustParsePrefix("240.0.0.0/4"), ClassReserved},
	{netip.MustParsePrefix("192.0.0.0/24"), ClassReserved},   // IETF protocol assignments
	{netip.MustParsePrefix("192.88.99.0/24"), ClassReserved}, // 6to4 relay anycast
	{netip.MustParsePrefix("198.18.0.0/15"), ClassReserved},  // benchmarking
	{netip.MustParsePrefix("192.0.2.0/24"), ClassDoc},
	{netip.MustParsePrefix("198.51.100.0/24"), ClassDoc},
	{netip.MustParsePrefix("203.0.113.0/24"), ClassDoc},
}

var v6Ranges = []classRange{
	{netip.MustParsePrefix("fd00:ec2::254/128"), ClassMetadata}, // AWS IMDS over IPv6
	{netip.MustParsePrefix("::/128"), ClassUnspecified},
	{netip.MustParsePrefix("::1/128"), ClassLoopback},
	{netip.MustParsePrefix("fc00::/7"), ClassPrivate},  // unique local
	{netip.MustParsePrefix("fec0::/10"), ClassPrivate}, // site-local, deprecated
	{netip.MustParsePrefix("fe80::/10"), ClassLinkLocal},
	{netip.MustParsePrefix("ff00::/8"), ClassMulticast},
	{netip.MustParsePrefix("2001:db8::/32"), ClassDoc},
	{netip.MustParsePrefix("3fff::/20"), ClassDoc},
	{netip.MustParsePrefix("100::/64"), ClassReserved},       // discard-only
	{netip.MustParsePrefix("2001::/32"), ClassReserved},      // Teredo: hides an IPv4 address
	{netip.MustParsePrefix("64:ff9b:1::/48"), ClassReserved}, // local-use NAT64
	{netip.MustParsePrefix("2001:10::/28"), ClassReserved},   // ORCHID
	{netip.MustParsePrefix("2001:20::/28"), ClassReserved},   // ORCHIDv2
	{netip.MustParsePrefix("5f00::/16"), ClassReserved},      // SRv6 SIDs
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	v4Compat  = netip.MustParsePrefix("::/96")
	v4Transl  = netip.MustParsePrefix("::ffff:0:0:0/96") // SIIT, RFC 2765
)

// Classify returns the class of a forbidden address and true, or "" and
// false for an address that may be dialed. It ignores a zone and
// Options.Allow.
func Classify(a netip.Addr) (Class, bool) {
	a = a.WithZone("").Unmap() // ::ffff:a.b.c.d is a.b.c.d
	if a.Is4() {
		return classify4(a)
	}
	if !a.Is6() {
		return ClassReserved, true // the zero Addr
	}
	for _, r := range v6Ranges {
		if r.p.Contains(a) {
			return r.class, true
		}
	}
	b := a.As16()
	switch {
	case nat64.Contains(a), v4Compat.Contains(a), v4Transl.Contains(a):
		// The IPv4 address is the last 32 bits. IPv4-compatible addresses
		// are deprecated: one that embeds a public address is still refused.
		v4 := netip.AddrFrom4([4]byte(b[12:16]))
		if c, bad := classify4(v4); bad {
			return c, true
		}
		if !nat64.Contains(a) {
			return ClassReserved, true
		}
	case sixToFour.Contains(a):
		if c, bad := classify4(netip.AddrFrom4([4]byte(b[2:6]))); bad {
			return c, true
		}
	}
	return "", false
}

func classify4(a netip.Addr) (Class, bool) {
	for _, r := range v4Ranges {
		if r.p.Contains(a) {
			return r.class, true
		}
	}
	return "", false
}
