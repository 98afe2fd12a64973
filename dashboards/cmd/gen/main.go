// Command gen writes Foresight's Grafana dashboards as JSON. Run it from the project
// root:
//
//	go run ./dashboards/cmd/gen
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/foresight-dev/foresight/dashboards"
)

func main() {
	out := flag.String("out", "dashboards", "directory to write the dashboard JSON files to")
	flag.Parse()
	if err := run(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	for _, def := range dashboards.All() {
		d, err := def.Build()
		if err != nil {
			return err
		}
		content, err := dashboards.Marshal(d)
		if err != nil {
			return err
		}
		path := filepath.Join(dir, def.File)
		if err := os.WriteFile(path, content, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}
