package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/stuffed-dev/stuffed/cache"
	"github.com/stuffed-dev/stuffed/fs"
)

type mountOptions struct {
	registry   string
	repos      []string
	cacheDir   string
	cacheSize  string
	readOnly   bool
	allowOther bool
	metaTTL    time.Duration
	debugFUSE  bool
	reg        registryFlags
}

func newMountCommand(g *globalFlags) *cobra.Command {
	o := &mountOptions{}
	cmd := &cobra.Command{
		Use:   "mount [--registry HOST[:PORT]] [flags] MOUNTPOINT",
		Short: "Mount a registry (or the local store) as a folder of Wasm components",
		Long: "Mount shows MOUNTPOINT/<repo>/<tag>/component.wasm and stays in the foreground until\n" +
			"SIGINT, SIGTERM or `umount MOUNTPOINT`. Without --registry it mounts the local store.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			return runMount(cmd.Context(), args[0], o, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.registry, "registry", "", "registry HOST[:PORT] (default: the local store, no server needed)")
	f.StringArrayVar(&o.repos, "repo", nil, "repository to show even if the registry does not list it (repeatable)")
	f.StringVar(&o.cacheDir, "cache-dir", "", "blob cache folder (default $XDG_CACHE_HOME/stuffed or ~/.cache/stuffed)")
	f.StringVar(&o.cacheSize, "cache-size", "2GiB", "bound of the blob cache, e.g. 512MiB, 10GiB")
	f.BoolVar(&o.readOnly, "read-only", false, "refuse every write")
	f.BoolVar(&o.allowOther, "allow-other", false, "let other users (and containers) see the mount")
	f.DurationVar(&o.metaTTL, "metadata-ttl", 5*time.Second, "how long listings and tag resolutions are trusted")
	f.BoolVar(&o.debugFUSE, "debug-fuse", false, "log every FUSE request")
	o.reg.register(f)
	return cmd
}

func runMount(ctx context.Context, dir string, o *mountOptions, log *slog.Logger) error {
	maxBytes, err := parseSize(o.cacheSize)
	if err != nil {
		return fmt.Errorf("--cache-size: %w", err)
	}
	if err := clearDeadMount(dir, log); err != nil {
		return err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("mount point %s: not a folder (create it with mkdir -p %s)", dir, dir)
	}
	cacheDir := o.cacheDir
	if cacheDir == "" {
		if cacheDir, err = defaultCacheDir(); err != nil {
			return err
		}
	}
	blobs, err := cache.Open(cacheDir, maxBytes, log)
	if err != nil {
		return err
	}
	reg, err := o.reg.client(o.registry, log)
	if err != nil {
		return err
	}
	for _, r := range o.repos {
		if _, err := parseReference(r); err != nil {
			return fmt.Errorf("--repo %s: %w", r, err)
		}
	}
	server, err := fs.Mount(dir, reg, blobs, fs.Options{
		Repos:      o.repos,
		MetaTTL:    o.metaTTL,
		ReadOnly:   o.readOnly,
		AllowOther: o.allowOther,
		Log:        log,
		Debug:      o.debugFUSE,
	})
	if err != nil {
		return err
	}
	log.Info("mounted", "mountpoint", dir, "source", reg.Location(), "cache", cacheDir)
	go func() {
		<-ctx.Done()
		if err := server.Unmount(); err != nil {
			log.Error("unmount", "mountpoint", dir, "err", err,
				"hint", "a process may still use the mount; close it, or run umount -l "+dir)
		}
	}()
	server.Wait()
	log.Info("unmounted", "mountpoint", dir)
	return nil
}

// clearDeadMount detaches a mount whose server died (stat says ENOTCONN), so that mounting
// again on the same folder works.
func clearDeadMount(dir string, log *slog.Logger) error {
	_, err := os.Stat(dir)
	if !errors.Is(err, syscall.ENOTCONN) {
		return nil
	}
	log.Warn("clearing a dead mount left by a previous run", "mountpoint", dir)
	if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
		return fmt.Errorf("%s holds a dead mount and it could not be cleared (%w); run: umount -l %s", dir, err, dir)
	}
	return nil
}

func defaultCacheDir() (string, error) {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "stuffed"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder: set --cache-dir, XDG_CACHE_HOME or HOME: %w", err)
	}
	return filepath.Join(home, ".cache", "stuffed"), nil
}
