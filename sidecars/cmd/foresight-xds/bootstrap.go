package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/foresight-dev/foresight/internal/cli"
	"github.com/foresight-dev/foresight/sidecars/policy"
	"github.com/foresight-dev/foresight/sidecars/xds"
)

// Output formats of bootstrap.
const (
	formatEnvoy     = "envoy"      // Envoy bootstrap, YAML (the default)
	formatEnvoyJSON = "envoy-json" // Envoy bootstrap, JSON
	formatGRPC      = "grpc"       // gRPC xDS bootstrap (JSON) for proxyless gRPC clients
)

// bootstrapCmd prints the bootstrap of an Envoy sidecar, the Envoy gateway or a proxyless gRPC
// client.
func bootstrapCmd(args []string, stdout io.Writer) (err error) {
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var o xds.BootstrapOptions
	var g xds.GRPCBootstrapOptions
	md := metadataFlag{}
	fs.StringVar(&o.NodeID, "node", "", "node id, unique per proxy or client (e.g. the pod name)")
	fs.StringVar(&o.Service, "service", "", "node cluster: the service a sidecar fronts, the gateway's name, or a gRPC client's name (node groups' services select on it)")
	fs.Var(md, "metadata", "node metadata field KEY=VALUE (node groups' selectors match on them); repeatable")
	fs.BoolVar(&o.Gateway, "gateway", false, "bootstrap for the gateway instead of a sidecar (envoy formats)")
	fs.StringVar(&o.XDSAddress, "xds-address", "foresight-xds.foresight.svc:18000", "control plane host:port")
	admin := fs.Uint("admin-port", 9901, "Envoy admin interface port on 127.0.0.1 (envoy formats)")
	stats := fs.Uint("stats-port", 15090, "Envoy port serving /stats/prometheus (envoy formats)")
	var ch xds.Channel
	fs.StringVar(&ch.Creds, "xds-creds", xds.CredsInsecure, "channel credentials to the control plane, insecure or tls (serve --tls-cert-file)")
	fs.StringVar(&ch.CAFile, "xds-ca-file", "", "PEM CA bundle verifying the control plane (tls; required by envoy formats, the system roots by default for grpc)")
	fs.StringVar(&ch.CertFile, "xds-cert-file", "", "PEM client certificate presented to the control plane (tls; serve --client-ca-file asks for one)")
	fs.StringVar(&ch.KeyFile, "xds-key-file", "", "PEM key of --xds-cert-file (tls)")
	fs.StringVar(&o.TLSSecretsFile, "xds-secrets-file", "", "envoy formats, tls: write the CA bundle and client certificate as file-based SDS secrets to this file (.json or .yaml) and name it in the bootstrap, so that Envoy rereads their files when they are renewed")
	fs.StringVar(&g.ListenerNameTemplate, "listener-name-template", "", `client_default_listener_resource_name_template (grpc format); "%s" is the target's name`)
	fs.IntVar(&o.RegexProgramSizeLimit, "regex-program-size-limit", 0, "the proxy's runtime re2.max_program_size.error_level: the largest RE2 program of a regex it accepts; pass the same to serve (envoy formats; 0: Envoy's default, 100)")
	policyFile := fs.String("policy", "", "TrafficPolicy file: fail unless the node belongs to a node group of the right kind (and, if the group lists identities, one of them admits an identity of --xds-cert-file: a SPIFFE ID or DNS name)")
	out := fs.String("out", "", "write the bootstrap to this file instead of stdout (the image has no shell to redirect with)")
	format := fs.String("format", formatEnvoy, "envoy (Envoy bootstrap, YAML), envoy-json, or grpc (gRPC xDS bootstrap for proxyless clients); yaml and json are older names of envoy and envoy-json")
	if err := cli.ParseArgs(fs, args); err != nil {
		return err
	}
	if *out != "" {
		var buf bytes.Buffer
		stdout = &buf
		defer func() {
			if err == nil {
				if werr := os.WriteFile(*out, buf.Bytes(), 0o644); werr != nil {
					err = fmt.Errorf("bootstrap: --out: %w", werr)
				}
			}
		}()
	}
	if fs.NArg() != 0 {
		return cli.Usagef("bootstrap: unexpected arguments %v", fs.Args())
	}
	if o.NodeID == "" || o.Service == "" {
		return cli.Usagef("bootstrap: --node and --service are required")
	}
	switch *format {
	case "yaml":
		*format = formatEnvoy
	case "json":
		*format = formatEnvoyJSON
	case formatEnvoy, formatEnvoyJSON, formatGRPC:
	default:
		return cli.Usagef("bootstrap: unknown format %q (want envoy, envoy-json or grpc)", *format)
	}
	kind := policy.NodeSidecar
	switch {
	case *format == formatGRPC:
		kind = policy.NodeGRPC
		if o.Gateway {
			return cli.Usagef("bootstrap: --gateway is an Envoy role; a gRPC client has none")
		}
		if o.RegexProgramSizeLimit != 0 {
			return cli.Usagef("bootstrap: --regex-program-size-limit is Envoy's; grpc-go matches with Go's regexp and has no such limit")
		}
	case o.Gateway:
		kind = policy.NodeGateway
	}
	if *format != formatGRPC {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if set["listener-name-template"] {
			return cli.Usagef("bootstrap: --listener-name-template applies to --format grpc only")
		}
	}
	if *policyFile != "" {
		if err := checkNodeGroup(*policyFile, o.Service, md, kind, ch.CertFile); err != nil {
			return err
		}
	}
	if *format == formatGRPC && o.TLSSecretsFile != "" {
		return cli.Usagef("bootstrap: --xds-secrets-file is Envoy's; grpc-go rereads its certificate files itself")
	}
	if *format == formatGRPC {
		g.NodeID, g.Cluster, g.Metadata, g.XDSAddress, g.Channel = o.NodeID, o.Service, md, o.XDSAddress, ch
		js, err := xds.GRPCBootstrap(g)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, string(js))
		return err
	}
	o.Metadata, o.Channel = md, ch
	o.AdminPort, o.StatsPort = uint32(*admin), uint32(*stats)
	b, err := xds.Bootstrap(o)
	if err != nil {
		return err
	}
	if err := b.ValidateAll(); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if o.TLSSecretsFile != "" {
		if err := writeTLSSecrets(o); err != nil {
			return err
		}
	}
	js, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(b)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if *format == formatEnvoyJSON {
		_, err = fmt.Fprintln(stdout, string(js))
		return err
	}
	y, err := yaml.JSONToYAML(js)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	_, err = stdout.Write(y)
	return err
}

// writeTLSSecrets writes the file-based SDS secrets of o's channel to o.TLSSecretsFile, as
// JSON or YAML by its extension (Bootstrap has checked it).
func writeTLSSecrets(o xds.BootstrapOptions) error {
	secrets, err := xds.TLSSecrets(o)
	if err != nil {
		return err
	}
	if err := secrets.ValidateAll(); err != nil {
		return fmt.Errorf("bootstrap: TLS secrets: %w", err)
	}
	js, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(secrets)
	if err != nil {
		return fmt.Errorf("bootstrap: TLS secrets: %w", err)
	}
	if filepath.Ext(o.TLSSecretsFile) != ".json" {
		if js, err = yaml.JSONToYAML(js); err != nil {
			return fmt.Errorf("bootstrap: TLS secrets: %w", err)
		}
	}
	// Readable by an Envoy of another user, as --out writes the bootstrap: it names files
	// and holds no key.
	if err := os.WriteFile(o.TLSSecretsFile, js, 0o644); err != nil {
		return fmt.Errorf("bootstrap: --xds-secrets-file: %w", err)
	}
	return nil
}

// checkNodeGroup fails unless a node with this cluster and metadata belongs to a node group
// of kind in the policy file, the way the control plane will assign it, and, when the group
// lists identities and the node presents the certificate certFile, unless the group admits
// one of the certificate's identities, SPIFFE IDs or DNS names (as serve
// --require-node-identity checks).
func checkNodeGroup(file, cluster string, md map[string]string, kind policy.NodeKind, certFile string) error {
	p, err := policy.Load(file)
	if err != nil {
		return err
	}
	name, ok := p.NodeGroup(cluster, md)
	if !ok {
		return fmt.Errorf("bootstrap: %s: node cluster %q with metadata %v belongs to no node group: the control plane would refuse it", file, cluster, md)
	}
	g := p.Group(name)
	if g.Kind != kind {
		return fmt.Errorf("bootstrap: %s: node cluster %q with metadata %v belongs to node group %q of kind %s, not %s", file, cluster, md, name, g.Kind, kind)
	}
	if len(g.Identities) == 0 || certFile == "" {
		return nil
	}
	pair, err := os.ReadFile(certFile)
	if err != nil {
		return fmt.Errorf("bootstrap: --policy: node group %q lists identities: %w", name, err)
	}
	block, _ := pem.Decode(pair)
	if block == nil || block.Type != "CERTIFICATE" {
		return fmt.Errorf("bootstrap: --policy: %s: no PEM certificate", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("bootstrap: --policy: %s: %w", certFile, err)
	}
	if ids := xds.CertificateIdentities(cert); !p.AdmitsIdentity(name, ids) {
		return fmt.Errorf("bootstrap: %s: node group %q admits none of the identities %q of %s: a control plane with --require-node-identity would refuse it", file, name, ids, certFile)
	}
	return nil
}

// metadataFlag collects repeated --metadata KEY=VALUE flags.
type metadataFlag map[string]string

func (m metadataFlag) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

func (m metadataFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, not %q", s)
	}
	if _, dup := m[k]; dup {
		return fmt.Errorf("metadata field %q given twice", k)
	}
	m[k] = v
	return nil
}
