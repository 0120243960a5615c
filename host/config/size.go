package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size is a number of bytes. In config.toml it is written as a string with a
// binary unit, such as "64MiB" or "512KiB", or as an integer number of bytes.
type Size int64

// Units of Size.
const (
	Byte Size = 1
	KiB       = 1024 * Byte
	MiB       = 1024 * KiB
	GiB       = 1024 * MiB
	TiB       = 1024 * GiB
)

var sizeUnits = []struct {
	name string
	size Size
}{
	{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}, {"B", Byte},
}

// ParseSize parses a size such as "64MiB", "512 KiB", "100B" or "4096": a
// non-negative integer followed by an optional unit B, KiB, MiB, GiB or TiB
// (in any letter case). Decimal units (KB, MB, GB) and fractions are refused,
// because they leave the reader guessing how many bytes are meant.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, errors.New("want an integer and a unit such as 64MiB")
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, errors.New("number out of range")
	}
	unit := strings.TrimSpace(t[i:])
	if unit == "" {
		return Size(n), nil
	}
	if strings.HasPrefix(unit, ".") {
		return 0, errors.New("fractions are not allowed; use a smaller unit")
	}
	for _, u := range sizeUnits {
		if strings.EqualFold(unit, u.name) {
			if n > math.MaxInt64/int64(u.size) {
				return 0, errors.New("size out of range")
			}
			return Size(n) * u.size, nil
		}
	}
	return 0, fmt.Errorf("unknown unit %q (use B, KiB, MiB, GiB or TiB)", unit)
}

// String formats s with the largest unit that divides it exactly, such as
// "64MiB" or "1500B".
func (s Size) String() string {
	if s == 0 {
		return "0B"
	}
	for _, u := range sizeUnits {
		if s%u.size == 0 {
			return strconv.FormatInt(int64(s/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B" // unreachable: B divides everything
}
