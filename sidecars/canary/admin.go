package canary

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Actions are the manual actions the admin API and the canary command offer.
var Actions = []string{"pause", "resume", "advance", "abort", "promote"}

// ReadToken reads a bearer token from a file (surrounding white space is dropped); an
// empty token is an error.
func ReadToken(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return nil, fmt.Errorf("admin token file %s is empty", path)
	}
	return []byte(tok), nil
}

// AdminHandler serves the canary admin API; every request needs "Authorization: Bearer
// TOKEN" (compared in constant time), else 401:
//
//	GET  /canaries                 the state of every rollout (JSON)
//	GET  /canaries/{name}          one rollout's state
//	POST /canaries/{name}/{action} pause, resume, advance, abort or promote; answers the
//	                               new state
//	                               (503 on a replica that does not lead)
func (c *Controller) AdminHandler(token []byte) http.Handler {
	want := sha256.Sum256(token)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /canaries", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, c.States())
	})
	mux.HandleFunc("GET /canaries/{name}", func(w http.ResponseWriter, r *http.Request) {
		st := c.State(r.PathValue("name"))
		if st == nil {
			http.Error(w, "no such canary", http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /canaries/{name}/{action}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		var err error
		switch r.PathValue("action") {
		case "pause":
			err = c.Pause(r.Context(), name)
		case "resume":
			err = c.Resume(r.Context(), name)
		case "advance":
			err = c.Advance(r.Context(), name)
		case "abort":
			err = c.Abort(r.Context(), name)
		case "promote":
			err = c.Promote(r.Context(), name)
		default:
			http.Error(w, "unknown action (want one of "+strings.Join(Actions, ", ")+")", http.StatusNotFound)
			return
		}
		switch {
		case errors.Is(err, ErrUnknown):
			http.Error(w, err.Error(), http.StatusNotFound)
		case errors.Is(err, ErrEnded):
			http.Error(w, err.Error(), http.StatusConflict)
		case errors.Is(err, ErrNotLeader):
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		default:
			writeJSON(w, http.StatusOK, c.State(name))
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 || !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="foresight-xds canary admin"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
