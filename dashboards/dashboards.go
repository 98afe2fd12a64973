// Package dashboards builds Foresight's Grafana dashboards with the Grafana Foundation
// SDK. The JSON committed next to this file is generated from these definitions
// (go run ./dashboards/cmd/gen); tests check that it is current, that every query
// parses as PromQL, reads only catalogued metrics and rates over $__rate_interval.
package dashboards

import (
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// GatewayJob is the scrape job of the gateway's Envoy; rules/slo.rules.yaml uses the same.
const GatewayJob = "foresight-gateway"

// Definition is one dashboard: its file name and how to build it.
type Definition struct {
	// File is the JSON file name under dashboards/.
	File string
	// Build returns the dashboard.
	Build func() (Dashboard, error)
}

// All returns every Foresight dashboard in a fixed order.
func All() []Definition {
	return []Definition{
		{File: "predictive-autoscaling.json", Build: PredictiveAutoscaling},
		{File: "cost.json", Build: Cost},
		{File: "traffic.json", Build: Traffic},
		{File: "control-planes.json", Build: ControlPlanes},
	}
}

// Marshal renders a dashboard as the committed JSON: indented, with a final newline.
func Marshal(d Dashboard) ([]byte, error) {
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal dashboard %q: %w", derefString(d.Title), err)
	}
	return append(out, '\n'), nil
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// datasource is the panel data source: the dashboard's $datasource variable.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

// query is one PromQL target of a panel.
type query struct {
	expr, legend string
}

// panel describes a time-series panel.
type panel struct {
	title, description, unit string
	queries                  []query
	// stacked draws the series stacked (shares of a whole).
	stacked bool
	// width in grid units of 24 (default 12).
	width uint32
}

func (p panel) builder(id uint32) *timeseries.PanelBuilder {
	width := p.width
	if width == 0 {
		width = 12
	}
	b := timeseries.NewPanelBuilder().
		Id(id).
		Title(p.title).
		Description(p.description).
		Unit(p.unit).
		Datasource(datasource()).
		Height(8).
		Span(width).
		LineWidth(1).
		FillOpacity(10).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true))
	if p.stacked {
		b = b.Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal)).FillOpacity(40)
	}
	for i, q := range p.queries {
		b = b.WithTarget(prometheus.NewDataqueryBuilder().
			Expr(q.expr).
			LegendFormat(q.legend).
			RefId(string(rune('A' + i))).
			Datasource(datasource()))
	}
	return b
}

// section is a row title followed by its panels.
type section struct {
	title  string
	panels []panel
}

// spec is a whole dashboard before it is built.
type spec struct {
	uid, title, description string
	// namespaceFrom is the metric whose namespace label fills $namespace.
	namespaceFrom string
	extraVars     []dashboardVariable
	annotations   []cog.Builder[dashboard.AnnotationQuery]
	sections      []section
}

func (s spec) build() (Dashboard, error) {
	b := newDashboardBuilder(s.title).
		Uid(s.uid).
		Description(s.description).
		Tags([]string{"foresight"}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("1m").
		Time("now-6h", "now").
		Timezone("browser").
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
			Label("Data source").
			Type("prometheus")).
		WithVariable(dashboard.NewQueryVariableBuilder("namespace").
			Label("Namespace").
			Datasource(datasource()).
			Query(dashboard.StringOrMap{String: cog.ToPtr(fmt.Sprintf("label_values(%s, namespace)", s.namespaceFrom))}).
			Definition(fmt.Sprintf("label_values(%s, namespace)", s.namespaceFrom)).
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Sort(dashboard.VariableSortAlphabeticalAsc).
			Multi(true).
			IncludeAll(true).
			AllValue(".*"))
	for _, v := range s.extraVars {
		b = b.WithVariable(v)
	}
	for _, a := range s.annotations {
		b = b.Annotation(a)
	}
	var id uint32
	for _, sec := range s.sections {
		if sec.title != "" {
			id++
			b = b.WithRow(dashboard.NewRowBuilder(sec.title).Id(id))
		}
		for _, p := range sec.panels {
			id++
			b = b.WithPanel(p.builder(id))
		}
	}
	d, err := b.Build()
	if err != nil {
		return Dashboard{}, fmt.Errorf("build dashboard %s: %w", s.uid, err)
	}
	return d, nil
}

// queryVariable is a multi-value variable over one label of one metric.
func queryVariable(name, label, query string) cog.Builder[dashboard.VariableModel] {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(datasource()).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).
		IncludeAll(true).
		AllValue(".*")
}

// dashboardVariable is a template variable builder.
type dashboardVariable = cog.Builder[dashboard.VariableModel]

// Dashboard is a classic (schema v1) Grafana dashboard: its JSON imports into and
// provisions on every supported Grafana, where the SDK's preferred v2 needs Grafana 12's
// new dashboard API.
type Dashboard = dashboard.Dashboard //nolint:staticcheck // v1 on purpose, see above

//nolint:staticcheck // v1 on purpose, see Dashboard
func newDashboardBuilder(title string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title)
}
