package xds

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"strconv"
)

// Channel credentials a proxy or client uses towards the control plane.
const (
	CredsInsecure = "insecure"
	CredsTLS      = "tls"
)

// Channel is how a proxy or client connects to the control plane (foresight-xds serve
// --tls-cert-file, --client-ca-file): plaintext, or TLS with PEM files.
type Channel struct {
	// Creds is CredsInsecure (default) or CredsTLS.
	Creds string
	// CAFile is the CA bundle that verifies the control plane's certificate.
	CAFile string
	// CertFile and KeyFile are the client's own certificate and key (both or neither), for a
	// control plane that asks for one.
	CertFile, KeyFile string
}

// tls reports whether the channel is TLS, or why its fields do not go together.
func (c Channel) tls() (bool, error) {
	switch c.Creds {
	case "", CredsInsecure:
		if c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" {
			return false, errors.New("certificate files need tls channel credentials")
		}
		return false, nil
	case CredsTLS:
		if (c.CertFile == "") != (c.KeyFile == "") {
			return false, errors.New("a client certificate needs its key and a key its certificate")
		}
		return true, nil
	default:
		return false, fmt.Errorf("channel credentials %q: want %s or %s", c.Creds, CredsInsecure, CredsTLS)
	}
}

// GRPCBootstrapOptions describe the proxyless gRPC client a bootstrap is for.
type GRPCBootstrapOptions struct {
	// NodeID is the node id, unique per client (e.g. the pod name); required.
	NodeID string
	// Cluster is the node cluster; node groups select clients by it (services). Required.
	Cluster string
	// Metadata are node metadata fields; node groups select clients by them (selector).
	Metadata map[string]string
	// XDSAddress is the control plane's host:port; required.
	XDSAddress string
	// Channel is how the client connects to the control plane; the system roots verify
	// it when Channel.CAFile is empty.
	Channel Channel
	// ListenerNameTemplate, when set, is client_default_listener_resource_name_template: the
	// listener a target xds:///NAME asks for, "%s" standing for NAME. grpc-go's default is
	// "%s", which is how the policy names its api_listeners.
	ListenerNameTemplate string
}

// grpcBootstrap is the JSON document grpc-go's xDS client reads (GRPC_XDS_BOOTSTRAP or
// GRPC_XDS_BOOTSTRAP_CONFIG).
type grpcBootstrap struct {
	XDSServers               []grpcXDSServer `json:"xds_servers"`
	Node                     grpcNode        `json:"node"`
	ListenerResourceTemplate string          `json:"client_default_listener_resource_name_template,omitempty"`
}

type grpcXDSServer struct {
	ServerURI      string            `json:"server_uri"`
	ChannelCreds   []grpcChannelCred `json:"channel_creds"`
	ServerFeatures []string          `json:"server_features"`
}

type grpcChannelCred struct {
	Type   string         `json:"type"`
	Config *grpcTLSConfig `json:"config,omitempty"`
}

type grpcTLSConfig struct {
	CAFile   string `json:"ca_certificate_file,omitempty"`
	CertFile string `json:"certificate_file,omitempty"`
	KeyFile  string `json:"private_key_file,omitempty"`
}

type grpcNode struct {
	ID       string            `json:"id"`
	Cluster  string            `json:"cluster"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Locality struct{}          `json:"locality"`
}

// GRPCBootstrap builds the xDS bootstrap of a proxyless gRPC client (grpc-go and the other
// gRPC languages): one xDS server speaking xDS v3 over ADS, and the node the control plane
// assigns to a node group. The node metadata carry foresight.dev/role: grpc next to the
// given fields.
func GRPCBootstrap(o GRPCBootstrapOptions) ([]byte, error) {
	if o.NodeID == "" || o.Cluster == "" {
		return nil, errors.New("grpc bootstrap: node id and cluster are required")
	}
	host, portStr, err := net.SplitHostPort(o.XDSAddress)
	if err != nil || host == "" {
		return nil, fmt.Errorf("grpc bootstrap: xds address %q: want host:port", o.XDSAddress)
	}
	if port, err := strconv.ParseUint(portStr, 10, 16); err != nil || port == 0 {
		return nil, fmt.Errorf("grpc bootstrap: xds address %q: invalid port", o.XDSAddress)
	}
	secure, err := o.Channel.tls()
	if err != nil {
		return nil, fmt.Errorf("grpc bootstrap: %w", err)
	}
	cred := grpcChannelCred{Type: CredsInsecure}
	if c := o.Channel; secure {
		cred.Type = CredsTLS
		if c.CAFile != "" || c.CertFile != "" {
			cred.Config = &grpcTLSConfig{CAFile: c.CAFile, CertFile: c.CertFile, KeyFile: c.KeyFile}
		}
	}
	if _, ok := o.Metadata[RoleMetadataKey]; ok {
		return nil, fmt.Errorf("grpc bootstrap: metadata field %s is set by the bootstrap itself", RoleMetadataKey)
	}
	md := maps.Clone(o.Metadata)
	if md == nil {
		md = map[string]string{}
	}
	md[RoleMetadataKey] = KindGRPC
	b := grpcBootstrap{
		XDSServers: []grpcXDSServer{{
			ServerURI:      o.XDSAddress,
			ChannelCreds:   []grpcChannelCred{cred},
			ServerFeatures: []string{"xds_v3"},
		}},
		Node:                     grpcNode{ID: o.NodeID, Cluster: o.Cluster, Metadata: md},
		ListenerResourceTemplate: o.ListenerNameTemplate,
	}
	return json.MarshalIndent(b, "", "  ")
}
