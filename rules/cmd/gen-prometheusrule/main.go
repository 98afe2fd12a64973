// Command gen-prometheusrule writes the prometheus-operator PrometheusRule generated
// from rules/*.rules.yaml. Run it from the project root:
//
//	go run ./rules/cmd/gen-prometheusrule
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/foresight-dev/foresight/rules"
)

func main() {
	dir := flag.String("rules", "rules", "directory holding the *.rules.yaml files")
	out := flag.String("out", rules.DefaultPrometheusRulePath, "file to write the PrometheusRule to")
	flag.Parse()
	content, err := rules.GeneratePrometheusRule(*dir, rules.DefaultPrometheusRuleOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen-prometheusrule:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, content, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen-prometheusrule:", err)
		os.Exit(1)
	}
}
