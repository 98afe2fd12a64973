package promclient

import (
	"fmt"
	"io"
	"net/http"
)

// limitResponses wraps rt so that reading more than max bytes of one response
// body fails the read with an error naming the limit, the request's path and
// the flag that raises it. The limit counts the bytes the client decodes: it
// wraps the body rt returns, after any decompression by the transport.
func limitResponses(rt http.RoundTripper, max int64) http.RoundTripper {
	return responseLimit{next: rt, max: max}
}

type responseLimit struct {
	next http.RoundTripper
	max  int64
}

// RoundTrip implements http.RoundTripper.
func (l responseLimit) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: l.max, max: l.max, path: req.URL.Path}
	return resp, nil
}

// limitedBody is a response body that fails, rather than truncates, once more
// than max bytes have been read.
type limitedBody struct {
	io.ReadCloser
	left int64 // bytes still allowed; -1 once the limit is exceeded
	max  int64
	path string
}

// Read implements io.Reader.
func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, b.exceeded()
	}
	if int64(len(p)) > b.left {
		p = p[:b.left+1] // one byte over the limit tells a larger body from an exact fit
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n - 1, b.exceeded()
	}
	return n, err
}

func (b *limitedBody) exceeded() error {
	return fmt.Errorf("prometheus response to %s exceeded %d bytes; raise --prometheus-max-response-bytes", b.path, b.max)
}
