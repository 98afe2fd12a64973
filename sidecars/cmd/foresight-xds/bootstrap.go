package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/foresight-dev/foresight/sidecars/xds"
)

// bootstrapCmd prints the Envoy bootstrap of a sidecar or the gateway.
func bootstrapCmd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var o xds.BootstrapOptions
	fs.StringVar(&o.NodeID, "node", "", "Envoy node id, unique per proxy (e.g. the pod name)")
	fs.StringVar(&o.Service, "service", "", "service the sidecar fronts, or the gateway's name (the node cluster)")
	fs.BoolVar(&o.Gateway, "gateway", false, "bootstrap for the gateway instead of a sidecar")
	fs.StringVar(&o.XDSAddress, "xds-address", "foresight-xds.foresight.svc:18000", "control plane host:port")
	admin := fs.Uint("admin-port", 9901, "admin interface port on 127.0.0.1")
	stats := fs.Uint("stats-port", 15090, "port serving /stats/prometheus")
	format := fs.String("format", "yaml", "output format: yaml or json")
	out := fs.String("out", "", "write the bootstrap to this file instead of stdout (the image has no shell to redirect with)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageError{fmt.Sprintf("bootstrap: unexpected arguments %v", fs.Args())}
	}
	if o.NodeID == "" || o.Service == "" {
		return usageError{"bootstrap: --node and --service are required"}
	}
	o.AdminPort, o.StatsPort = uint32(*admin), uint32(*stats)
	b, err := xds.Bootstrap(o)
	if err != nil {
		return err
	}
	if err := b.ValidateAll(); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	js, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(b)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	var text []byte
	switch *format {
	case "json":
		text = append(js, '\n')
	case "yaml":
		if text, err = yaml.JSONToYAML(js); err != nil {
			return fmt.Errorf("bootstrap: %w", err)
		}
	default:
		return usageError{fmt.Sprintf("bootstrap: unknown format %q", *format)}
	}
	if *out != "" {
		if err := os.WriteFile(*out, text, 0o644); err != nil {
			return fmt.Errorf("bootstrap: --out: %w", err)
		}
		return nil
	}
	_, err = stdout.Write(text)
	return err
}
