// Package promclient connects to a server of the Prometheus HTTP API (Prometheus, Thanos
// Query, Mimir, Cortex, VictoriaMetrics) as Prometheus' own clients are configured: TLS with a
// CA, a client certificate, a bearer token reread as it changes, extra headers such as a
// tenant's, and a bound on the bytes of one response. The adapter and the xDS control plane
// connect through it with the same flags.
package promclient

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/api"
	commoncfg "github.com/prometheus/common/config"
	"github.com/spf13/pflag"
)

// DefaultMaxResponseBytes bounds the body of one Prometheus response: 128 MiB.
// A range-query point is up to about 40 bytes of JSON, so this holds a full
// chunk of 11,000 points for about 300 series or the serving loop's chunks of
// 1,440 points for about 2,300. The client buffers a whole body in a doubling
// buffer before decoding it, so a response near the limit briefly takes about
// twice the limit: 128 MiB keeps that well inside the charts' 512Mi container
// limits, 256 MiB would not.
const DefaultMaxResponseBytes = 128 << 20

// Config says how to reach a Prometheus HTTP API.
type Config struct {
	// Address is the base URL, e.g. https://prometheus.monitoring.svc:9090 or
	// https://mimir.example/prometheus. Required.
	Address string
	// BearerTokenFile is a file holding a bearer token, re-read as it changes
	// (e.g. a projected service account token).
	BearerTokenFile string
	// BearerToken is a literal bearer token (prefer BearerTokenFile).
	BearerToken string
	// CAFile is a PEM file of CAs to verify the server with (default: system roots).
	CAFile string
	// CertFile and KeyFile are a PEM client certificate and key for mutual TLS.
	CertFile string
	// KeyFile is the client certificate's key.
	KeyFile string
	// ServerName overrides the name the server certificate is verified against.
	ServerName string
	// InsecureSkipVerify turns off server certificate verification (tests only).
	InsecureSkipVerify bool
	// Headers are extra request headers, e.g. X-Scope-OrgID for Mimir or Cortex tenants.
	Headers map[string]string
	// MaxResponseBytes bounds the body of one response, in bytes as decoded
	// (after any decompression); a larger response fails its query with an
	// error. Default DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

// AddFlags registers the connection's flags (prefixed "prometheus-") on fs.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.Address, "prometheus-url", c.Address, "URL of the Prometheus HTTP API (Prometheus, Thanos, Mimir).")
	fs.StringVar(&c.BearerTokenFile, "prometheus-bearer-token-file", c.BearerTokenFile, "File with a bearer token for Prometheus, re-read when it changes.")
	fs.StringVar(&c.CAFile, "prometheus-ca-file", c.CAFile, "PEM file of CAs that sign Prometheus' serving certificate.")
	fs.StringVar(&c.CertFile, "prometheus-cert-file", c.CertFile, "PEM client certificate for mutual TLS with Prometheus.")
	fs.StringVar(&c.KeyFile, "prometheus-key-file", c.KeyFile, "PEM client key for mutual TLS with Prometheus.")
	fs.StringVar(&c.ServerName, "prometheus-server-name", c.ServerName, "Name to verify Prometheus' serving certificate against.")
	fs.BoolVar(&c.InsecureSkipVerify, "prometheus-insecure-skip-verify", c.InsecureSkipVerify, "Do not verify Prometheus' serving certificate (testing only).")
	fs.StringToStringVar(&c.Headers, "prometheus-header", c.Headers, "Extra request header for Prometheus, e.g. X-Scope-OrgID=tenant (repeatable).")
	fs.Int64Var(&c.MaxResponseBytes, "prometheus-max-response-bytes", c.MaxResponseBytes, fmt.Sprintf("Largest body of one Prometheus response in bytes (0: %d); a larger one fails its query.", int64(DefaultMaxResponseBytes)))
}

// New returns a client of the API at c.Address that identifies itself as userAgent.
func New(c Config, userAgent string) (api.Client, error) {
	if c.Address == "" {
		return nil, errors.New("prometheus: address is required")
	}
	if c.BearerToken != "" && c.BearerTokenFile != "" {
		return nil, errors.New("prometheus: set at most one of bearer token and bearer token file")
	}
	if c.MaxResponseBytes == 0 {
		c.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if c.MaxResponseBytes < 0 {
		return nil, fmt.Errorf("prometheus: max response bytes (--prometheus-max-response-bytes) must be positive, got %d", c.MaxResponseBytes)
	}
	httpCfg := commoncfg.HTTPClientConfig{
		FollowRedirects: true,
		EnableHTTP2:     true,
		TLSConfig: commoncfg.TLSConfig{
			CAFile:             c.CAFile,
			CertFile:           c.CertFile,
			KeyFile:            c.KeyFile,
			ServerName:         c.ServerName,
			InsecureSkipVerify: c.InsecureSkipVerify,
		},
	}
	switch {
	case c.BearerTokenFile != "":
		httpCfg.Authorization = &commoncfg.Authorization{Type: "Bearer", CredentialsFile: c.BearerTokenFile}
	case c.BearerToken != "":
		httpCfg.Authorization = &commoncfg.Authorization{Type: "Bearer", Credentials: commoncfg.Secret(c.BearerToken)}
	}
	if len(c.Headers) > 0 {
		h := &commoncfg.Headers{Headers: map[string]commoncfg.Header{}}
		for k, v := range c.Headers {
			h.Headers[k] = commoncfg.Header{Values: []string{v}}
		}
		httpCfg.HTTPHeaders = h
	}
	if err := httpCfg.Validate(); err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	rt, err := commoncfg.NewRoundTripperFromConfig(httpCfg, userAgent)
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	client, err := api.NewClient(api.Config{Address: c.Address, RoundTripper: limitResponses(rt, c.MaxResponseBytes)})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", c.Address, err)
	}
	return client, nil
}
