package main

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/stuffed-dev/stuffed/registry"
)

// registryFlags choose and configure the registry, shared by mount, push and pull.
type registryFlags struct {
	plainHTTP  bool
	caFile     string
	skipVerify bool
	timeout    time.Duration
	stall      time.Duration
	maxBlob    string
}

func (f *registryFlags) register(fs *pflag.FlagSet) {
	fs.BoolVarP(&f.plainHTTP, "plain-http", "i", false, "speak plain HTTP, without TLS, to the registry (an explicit opt-in)")
	fs.StringVar(&f.caFile, "tls-ca-file", "", "trust the PEM CA certificates in this file for the registry (besides the system's and /etc/docker/certs.d/HOST)")
	fs.BoolVar(&f.skipVerify, "tls-skip-verify", false, "speak TLS without verifying the registry's certificate (self-signed test registries only)")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "deadline of each registry request (listing, manifest, push step)")
	fs.StringVar(&f.maxBlob, "max-blob-size", "2GiB", "refuse, without downloading, a blob whose manifest claims more bytes")
	fs.DurationVar(&f.stall, "stall-timeout", 60*time.Second, "fail a blob download that receives no data for this long")
}

// client opens the registry at host, or the local store when host is empty.
func (f *registryFlags) client(host string, log *slog.Logger) (*registry.Client, error) {
	maxBlob, err := parseSize(f.maxBlob)
	if err != nil {
		return nil, fmt.Errorf("--max-blob-size: %w", err)
	}
	opts := []registry.Opt{
		registry.WithMaxBlobSize(maxBlob),
		registry.WithTimeout(f.timeout),
		registry.WithStallTimeout(f.stall),
		registry.WithLogger(log),
	}
	if host != "" {
		opts = append(opts, registry.WithHost(host), registry.WithPlainHTTP(f.plainHTTP),
			registry.WithCAFile(f.caFile), registry.WithTLSSkipVerify(f.skipVerify))
		if f.skipVerify {
			log.Warn("TLS certificates of the registry are not verified (--tls-skip-verify)", "registry", host)
		}
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
