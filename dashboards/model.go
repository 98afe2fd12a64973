package dashboards

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
)

// Panel is what tests and the preview need of a committed dashboard panel.
type Panel struct {
	// ID is the panel id.
	ID int `json:"id"`
	// Type is the panel type (timeseries, row, ...).
	Type string `json:"type"`
	// Title is the panel title.
	Title string `json:"title"`
	// Description is the panel's help text.
	Description string `json:"description"`
	// Targets are the panel's queries.
	Targets []Target `json:"targets"`
	// FieldConfig holds the panel's unit.
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	// Datasource is the panel's data source reference.
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
}

// Unit is the panel's display unit.
func (p Panel) Unit() string { return p.FieldConfig.Defaults.Unit }

// Target is a PromQL query of a panel.
type Target struct {
	// Expr is the PromQL expression with Grafana variables.
	Expr string `json:"expr"`
	// LegendFormat names the series, with {{label}} templates.
	LegendFormat string `json:"legendFormat"`
	// RefID names the query in the panel.
	RefID string `json:"refId"`
}

// Annotation is a Prometheus annotation query of a dashboard.
type Annotation struct {
	// Name is the annotation's name.
	Name string `json:"name"`
	// Expr is the PromQL expression.
	Expr string `json:"expr"`
	// TitleFormat is the title template of an event.
	TitleFormat string `json:"titleFormat"`
}

// Variable is a template variable of a dashboard.
type Variable struct {
	// Type is datasource, query, ...
	Type string `json:"type"`
	// Name is the variable's name, used as $name.
	Name string `json:"name"`
	// Query is the variable's query: a plugin type or label_values(...).
	Query any `json:"query"`
}

// Model is the part of a dashboard's JSON that tests and the preview read.
type Model struct {
	// UID is the dashboard uid.
	UID string `json:"uid"`
	// Title is the dashboard title.
	Title string `json:"title"`
	// Panels are the top-level panels, rows included.
	Panels []Panel `json:"panels"`
	// Annotations are the annotation queries.
	Annotations struct {
		List []Annotation `json:"list"`
	} `json:"annotations"`
	// Templating holds the variables.
	Templating struct {
		List []Variable `json:"list"`
	} `json:"templating"`
}

// ParseModel reads a dashboard's JSON.
func ParseModel(content []byte) (Model, error) {
	var m Model
	if err := json.Unmarshal(content, &m); err != nil {
		return Model{}, fmt.Errorf("parse dashboard JSON: %w", err)
	}
	return m, nil
}

// GraphPanels returns the panels that draw queries (rows left out), in order.
func (m Model) GraphPanels() []Panel {
	var out []Panel
	for _, p := range m.Panels {
		if p.Type != "row" {
			out = append(out, p)
		}
	}
	return out
}

var variableRef = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)

// Variables returns the names of the Grafana variables used in s, sorted.
func Variables(s string) []string {
	set := map[string]bool{}
	for _, m := range variableRef.FindAllStringSubmatch(s, -1) {
		set[m[1]+m[2]] = true
	}
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

// Expand replaces Grafana variables ($name, ${name}, ${name:format}) in expr by their
// values; a variable without a value is an error naming it.
func Expand(expr string, values map[string]string) (string, error) {
	var missing error
	out := variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2]
		v, ok := values[name]
		if !ok {
			missing = fmt.Errorf("variable $%s in %q has no value", name, expr)
			return ref
		}
		return v
	})
	return out, missing
}
