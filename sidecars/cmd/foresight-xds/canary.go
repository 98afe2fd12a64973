package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/foresight-dev/foresight/internal/cli"
	"github.com/foresight-dev/foresight/sidecars/canary"
)

// canaryCmd sends a manual action (or a status request) for one rollout to serve's admin
// API, authenticated with the bearer token from --token-file, and prints the answer.
func canaryCmd(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return cli.Usagef("canary: want an action (%s or status) and a canary name", strings.Join(canary.Actions, ", "))
	}
	action := args[0]
	fs := flag.NewFlagSet("canary "+action, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	admin := fs.String("admin-url", "http://127.0.0.1:18002", "base URL of serve's --admin-address")
	tokenFile := fs.String("token-file", "", "file holding the admin bearer token (required)")
	if err := cli.ParseArgs(fs, reorder(args[1:])); err != nil {
		return fmt.Errorf("canary: %w", err)
	}
	if action != "status" && !slices.Contains(canary.Actions, action) {
		return cli.Usagef("canary: unknown action %q (want %s or status)", action, strings.Join(canary.Actions, ", "))
	}
	if fs.NArg() != 1 || *tokenFile == "" {
		return cli.Usagef("canary %s: want one canary NAME and --token-file FILE", action)
	}
	token, err := canary.ReadToken(*tokenFile)
	if err != nil {
		return err
	}
	method, path := http.MethodPost, "/canaries/"+url.PathEscape(fs.Arg(0))+"/"+action
	if action == "status" {
		method, path = http.MethodGet, "/canaries/"+url.PathEscape(fs.Arg(0))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(*admin, "/")+path, nil)
	if err != nil {
		return fmt.Errorf("canary %s: %w", action, err)
	}
	req.Header.Set("Authorization", "Bearer "+string(token))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("canary %s: %w", action, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("canary %s: %w", action, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("canary %s %s: %s: %s", action, fs.Arg(0), resp.Status, strings.TrimSpace(string(body)))
	}
	_, err = stdout.Write(body)
	return err
}
