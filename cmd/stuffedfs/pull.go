package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stuffed-dev/stuffed/registry"
)

type pullOptions struct {
	reference string
	output    string
	reg       registryFlags
}

func newPullCommand(g *globalFlags) *cobra.Command {
	o := &pullOptions{}
	cmd := &cobra.Command{
		Use:   "pull --reference REF [-i] [-o PATH]",
		Short: "Download the Wasm layer of REF, verified, to ./sha256-<hex> or PATH",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			c, r, err := o.reg.open(o.reference, log)
			if err != nil {
				return err
			}
			return runPull(cmd.Context(), c, r, o.output, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.reference, "reference", "", "what to pull: HOST[:PORT]/REPO[:TAG|@DIGEST] or REPO[:TAG] (local store)")
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "file to write (default ./sha256-<layer hex>)")
	o.reg.register(cmd.Flags())
	_ = cmd.MarkFlagRequired("reference")
	return cmd
}

// runPull writes the layer through a temporary file in the target's folder, verified against
// its digest, and renames it into place only when it is complete and correct.
func runPull(ctx context.Context, c *registry.Client, r reference, output string, out io.Writer) error {
	art, err := c.Resolve(ctx, r.repo, r.tag)
	if err != nil {
		return fmt.Errorf("pull %s: %w", r, err)
	}
	hexDigest := strings.TrimPrefix(art.Layer.Digest, "sha256:")
	if output == "" {
		output = "./sha256-" + hexDigest
	}
	body, err := c.OpenBlob(ctx, r.repo, art.Layer.Digest, art.Layer.Size)
	if err != nil {
		return fmt.Errorf("pull %s: %w", r, err)
	}
	defer body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(output), ".stuffed-pull-*")
	if err != nil {
		return fmt.Errorf("pull %s: %w", r, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(body, art.Layer.Size+1))
	if err != nil {
		return fmt.Errorf("pull %s: %w", r, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != art.Layer.Size || got != hexDigest {
		return fmt.Errorf("pull %s: the registry sent %d bytes with digest sha256:%s; the manifest says %d bytes, %s; nothing was written",
			r, n, got, art.Layer.Size, art.Layer.Digest)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pull %s: %w", r, err)
	}
	if err := os.Rename(tmp.Name(), output); err != nil {
		return fmt.Errorf("pull %s: %w", r, err)
	}
	fmt.Fprintf(out, "pulled: %s\n", output)
	return nil
}
