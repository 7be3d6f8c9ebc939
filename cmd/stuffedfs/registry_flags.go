package main

import (
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/stuffed-dev/stuffed/registry"
)

// registryFlags choose and configure the registry, shared by mount, push and pull.
type registryFlags struct {
	plainHTTP bool
	timeout   time.Duration
	stall     time.Duration
}

func (f *registryFlags) register(fs *pflag.FlagSet) {
	fs.BoolVarP(&f.plainHTTP, "plain-http", "i", false, "speak plain HTTP, without TLS, to the registry (an explicit opt-in)")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "deadline of each registry request (listing, manifest, push step)")
	fs.DurationVar(&f.stall, "stall-timeout", 60*time.Second, "fail a blob download that receives no data for this long")
}

// client opens the registry at host, or the local store when host is empty.
func (f *registryFlags) client(host string, log *slog.Logger) (*registry.Client, error) {
	opts := []registry.Opt{
		registry.WithTimeout(f.timeout),
		registry.WithStallTimeout(f.stall),
		registry.WithLogger(log),
	}
	if host != "" {
		opts = append(opts, registry.WithHost(host), registry.WithPlainHTTP(f.plainHTTP))
	}
	return registry.New(opts...)
}

// open parses a REF and opens the registry (or local store) it names.
func (f *registryFlags) open(ref string, log *slog.Logger) (*registry.Client, reference, error) {
	r, err := parseReference(ref)
	if err != nil {
		return nil, r, err
	}
	c, err := f.client(r.host, log)
	return c, r, err
}
