package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stuffed-dev/stuffed/registry"
)

type pushOptions struct {
	reference string
	rootPath  string
	format    string
	reg       registryFlags
}

func newPushCommand(g *globalFlags) *cobra.Command {
	o := &pushOptions{}
	cmd := &cobra.Command{
		Use:   "push --reference REF --root-path FILE [-i]",
		Short: "Publish a Wasm component or module as REF",
		Long: "Publish a Wasm binary as an OCI artifact: layer blob, config, then the manifest last.\n" +
			"REF is HOST[:PORT]/REPO[:TAG], or REPO[:TAG] for the local store.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			c, r, err := o.reg.open(o.reference, log)
			if err != nil {
				return err
			}
			return runPush(cmd.Context(), c, r, o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.reference, "reference", "", "where to push: HOST[:PORT]/REPO[:TAG] or REPO[:TAG] (local store)")
	cmd.Flags().StringVar(&o.rootPath, "root-path", "", "the .wasm file to push")
	cmd.Flags().StringVar(&o.format, "format", string(registry.FormatWasm),
		`artifact layout: "wasm" (CNCF Wasm OCI artifact) or "seed" (the original stuffed layout)`)
	o.reg.register(cmd.Flags())
	_ = cmd.MarkFlagRequired("reference")
	_ = cmd.MarkFlagRequired("root-path")
	return cmd
}

func runPush(ctx context.Context, c *registry.Client, r reference, o *pushOptions, out io.Writer) error {
	format, err := registry.ParseFormat(o.format)
	if err != nil {
		return err
	}
	f, err := os.Open(o.rootPath)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	defer f.Close()
	res, err := c.Push(ctx, r.repo, r.tag, f, registry.PushOptions{Format: format, Title: filepath.Base(o.rootPath)})
	if err != nil {
		return fmt.Errorf("push %s from %s: %w", r, o.rootPath, err)
	}
	fmt.Fprintf(out, "pushed: %s with digest: %s\n", r, strings.TrimPrefix(res.Layer.Digest, "sha256:"))
	return nil
}
