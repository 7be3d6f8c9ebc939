package main

import "testing"

func TestParseReference(t *testing.T) {
	for in, want := range map[string]reference{
		"localhost:5000/wasm/x:v1":         {"localhost:5000", "wasm/x", "v1"},
		"localhost/wasm/x":                 {"localhost", "wasm/x", "latest"},
		"ghcr.io/org/app:1.2.3":            {"ghcr.io", "org/app", "1.2.3"},
		"wasm/hello:v1":                    {"", "wasm/hello", "v1"},
		"hello":                            {"", "hello", "latest"},
		"127.0.0.1:5000/a@sha256:" + hex64: {"127.0.0.1:5000", "a", "sha256:" + hex64},
	} {
		got, err := parseReference(in)
		if err != nil || got != want {
			t.Errorf("%s: got %+v, %v; want %+v", in, got, err, want)
		}
		if got.String() != in && in != "localhost/wasm/x" && in != "hello" {
			t.Errorf("%s prints as %s", in, got)
		}
	}
	for _, bad := range []string{"", "Wasm/X:v1", "host.io/a:bad tag", "a@sha256:short", "a:", "host.io/"} {
		if _, err := parseReference(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"4096": 4096, "512MiB": 512 << 20, "10GiB": 10 << 30, "1G": 1 << 30, "1.5GiB": 3 << 29, "2GB": 2e9,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("%s: %d %v, want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1G", "lots", "1XB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
