// These tests decode builder-config's output with BuildKit v0.34's own
// config package (github.com/moby/buildkit/cmd/buildkitd/config).
package pki

import (
	"strings"
	"testing"

	"github.com/moby/buildkit/cmd/buildkitd/config"
)

// The toml parses with BuildKit v0.34's own config package, with the TLS
// paths, address, root and a GC cap of --cache-size.
func TestDaemonConfigParses(t *testing.T) {
	for _, tc := range []struct {
		size         string
		want, source config.DiskSpace // the cap; the rule for contexts, cache mounts and git checkouts
	}{
		{"100GB", config.DiskSpace{Bytes: 100 << 30}, config.DiskSpace{Bytes: 20 << 30}},
		{"80%", config.DiskSpace{Percentage: 80}, config.DiskSpace{Percentage: 16}},
		{"1%", config.DiskSpace{Percentage: 1}, config.DiskSpace{Percentage: 1}},
		{"512MiB", config.DiskSpace{Bytes: 512 << 20}, config.DiskSpace{Bytes: 512 << 20}},
		{"2.5g", config.DiskSpace{Bytes: 5 << 29}, config.DiskSpace{Bytes: 2 << 30}},
		{"1T", config.DiskSpace{Bytes: 1 << 40}, config.DiskSpace{Bytes: 209715 << 20}},
		{"123456789", config.DiskSpace{Bytes: 123456789}, config.DiskSpace{Bytes: 123456789}},
	} {
		t.Run(tc.size, func(t *testing.T) {
			o := daemonOptions(tc.size)
			o.Addrs = append(o.Addrs, "unix:///run/buildkit/buildkitd.sock")
			unit, toml, err := DaemonConfig(o)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(strings.NewReader(toml))
			if err != nil {
				t.Fatalf("BuildKit's config.Load: %v\n%s", err, toml)
			}
			if cfg.Root != "/var/lib/buildkit" || len(cfg.GRPC.Address) != 2 || cfg.GRPC.Address[0] != "tcp://0.0.0.0:1234" {
				t.Errorf("root %q, addresses %v", cfg.Root, cfg.GRPC.Address)
			}
			tls := cfg.GRPC.TLS
			if tls.Cert != "/etc/buildkit/certs/server.pem" || tls.Key != "/etc/buildkit/certs/server-key.pem" || tls.CA != "/etc/buildkit/certs/ca.pem" {
				t.Errorf("grpc.tls %+v", tls)
			}
			oci := cfg.Workers.OCI
			if oci.Enabled == nil || !*oci.Enabled || oci.GC == nil || !*oci.GC || cfg.Workers.Containerd.Enabled == nil || *cfg.Workers.Containerd.Enabled {
				t.Errorf("worker.oci enabled %v gc %v, containerd %v", oci.Enabled, oci.GC, cfg.Workers.Containerd.Enabled)
			}
			if len(oci.GCPolicy) != 4 {
				t.Fatalf("%d gc policies, want 4", len(oci.GCPolicy))
			}
			if p := oci.GCPolicy[0]; p.MaxUsedSpace != tc.source || p.KeepDuration.Hours() != 48 || len(p.Filters) != 3 {
				t.Errorf("policy 0: %+v, want maxUsedSpace %+v for 48h", p, tc.source)
			}
			for i, p := range oci.GCPolicy[1:] {
				if p.MaxUsedSpace != tc.want {
					t.Errorf("policy %d: maxUsedSpace %+v, want %+v", i+1, p.MaxUsedSpace, tc.want)
				}
			}
			if !oci.GCPolicy[3].All || oci.GCPolicy[1].KeepDuration.Hours() != 60*24 {
				t.Errorf("policies %+v", oci.GCPolicy)
			}
			for _, line := range []string{"ExecStart=/usr/local/bin/buildkitd --config /etc/buildkit/buildkitd.toml\n", "Restart=always\n", "WantedBy=multi-user.target\n"} {
				if !strings.Contains(unit, line) {
					t.Errorf("unit has no %q:\n%s", line, unit)
				}
			}
		})
	}
}

// Every size CheckCacheSize accepts, BuildKit parses (and to a non-zero size).
func TestCacheSizesBuildKitParses(t *testing.T) {
	for _, s := range []string{"100GB", "100gb", "100 GB", "100G", "100GiB", "1.5TB", "50%", "100%", "1", "10k", "10KB", "3m", "7P"} {
		if err := CheckCacheSize(s); err != nil {
			t.Errorf("%s rejected: %v", s, err)
			continue
		}
		var d config.DiskSpace
		if err := d.UnmarshalText([]byte(s)); err != nil || d == (config.DiskSpace{}) {
			t.Errorf("%s accepted here but BuildKit parses it to %+v, %v", s, d, err)
		}
	}
}
