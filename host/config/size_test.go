package config

import "testing"

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Size
		err  string
	}{
		{"0", 0, ""},
		{"4096", 4096, ""},
		{"100B", 100, ""},
		{"512KiB", 512 * KiB, ""},
		{"64MiB", 64 * MiB, ""},
		{"64 mib", 64 * MiB, ""},
		{"2GiB", 2 * GiB, ""},
		{"1TiB", TiB, ""},
		{"", 0, "want an integer and a unit such as 64MiB"},
		{"MiB", 0, "want an integer and a unit such as 64MiB"},
		{"-1MiB", 0, "want an integer and a unit such as 64MiB"},
		{"1.5MiB", 0, "fractions are not allowed; use a smaller unit"},
		{"64MB", 0, `unknown unit "MB" (use B, KiB, MiB, GiB or TiB)`},
		{"64k", 0, `unknown unit "k" (use B, KiB, MiB, GiB or TiB)`},
		{"99999999999999999999", 0, "number out of range"},
		{"9999999999TiB", 0, "size out of range"},
	} {
		got, err := ParseSize(tc.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tc.want || gotErr != tc.err {
			t.Errorf("ParseSize(%q) = %d, %q; want %d, %q", tc.in, got, gotErr, tc.want, tc.err)
		}
	}
}

func TestSizeString(t *testing.T) {
	for s, want := range map[Size]string{0: "0B", 1500: "1500B", 64 * KiB: "64KiB", 64 * MiB: "64MiB", 3 * GiB: "3GiB", MiB + 1: "1048577B"} {
		if got := s.String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(s), got, want)
		}
		if back, err := ParseSize(s.String()); err != nil || back != s {
			t.Errorf("ParseSize(%q) = %v, %v; want %d", s.String(), back, err, int64(s))
		}
	}
}
