package promclient

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
)

// TestResponseLimitCountsDecompressedBytes checks that the limit applies to a
// body as decoded, behind a transport that decompresses gzip transparently
// (the source's own transport does not ask for compression).
func TestResponseLimitCountsDecompressedBytes(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(bytes.Repeat([]byte("0"), 1<<16)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(gz.Bytes())
	}))
	t.Cleanup(srv.Close)
	limit := 2 * int64(gz.Len()) // over the compressed size, far under the decompressed one
	client := http.Client{Transport: limitResponses(srv.Client().Transport, limit)}
	resp, err := client.Get(srv.URL + "/api/v1/query")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if !resp.Uncompressed {
		t.Fatal("the transport did not decompress the response")
	}
	_, err = io.ReadAll(resp.Body)
	if want := fmt.Sprintf("exceeded %d bytes", limit); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("reading a body that decompresses over the limit: error %v, want %q", err, want)
	}
}

// TestNewSendsCredentialsAndHeaders checks a client made by New sends the bearer token of
// its file and the extra headers with every query, and fails a query whose answer is over
// MaxResponseBytes, naming the flag.
func TestNewSendsCredentialsAndHeaders(t *testing.T) {
	var auth, tenant string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, tenant = r.Header.Get("Authorization"), r.Header.Get("X-Scope-OrgID")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"`+strings.Repeat("1", 200)+`"]}}`)
	}))
	t.Cleanup(srv.Close)
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Address: srv.URL, BearerTokenFile: token, Headers: map[string]string{"X-Scope-OrgID": "team-a"}}
	c, err := New(cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, _, err := promv1.NewAPI(c).Query(ctx, "1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if auth != "Bearer s3cret" || tenant != "team-a" {
		t.Errorf("Authorization %q, X-Scope-OrgID %q; want the token and the tenant", auth, tenant)
	}
	cfg.MaxResponseBytes = 100
	small, err := New(cfg, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := promv1.NewAPI(small).Query(ctx, "1", time.Now()); err == nil || !strings.Contains(err.Error(), "raise --prometheus-max-response-bytes") {
		t.Errorf("answer over the limit: %v, want an error naming the flag", err)
	}
	for _, bad := range []Config{{}, {Address: srv.URL, BearerToken: "a", BearerTokenFile: token}, {Address: srv.URL, MaxResponseBytes: -1}} {
		if _, err := New(bad, "test"); err == nil {
			t.Errorf("New(%+v) succeeded", bad)
		}
	}
}
