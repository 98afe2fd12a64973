package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/foresight-dev/foresight/adapter/forecast"
	"github.com/foresight-dev/foresight/adapter/source"
	"github.com/foresight-dev/foresight/internal/strictyaml"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation"
)

// SetDefaults fills every unset field of every rule with its default.
func (f *File) SetDefaults() {
	for i := range f.Rules {
		f.Rules[i].SetDefaults()
	}
	if f.ResourceMetrics != nil {
		f.ResourceMetrics.SetDefaults()
	}
}

// SetDefaults fills the rule's unset fields with their defaults.
func (r *Rule) SetDefaults() {
	if r.API == "" {
		r.API = APIExternal
	}
	if r.Resources.NamespaceLabel == "" {
		r.Resources.NamespaceLabel = DefaultNamespaceLabel
	}
	if r.namespaces() && r.Resources.Label == "" {
		// A namespace's name is the series' namespace label.
		r.Resources.Label = r.Resources.NamespaceLabel
	}
	if r.API == APIPods {
		if r.Resources.Resource == "" {
			r.Resources.Resource = "pods"
		}
		if r.Resources.Label == "" {
			r.Resources.Label = "pod"
		}
	}
	fc := &r.Forecast
	if fc.Horizon == 0 {
		fc.Horizon = DefaultHorizon
	}
	if fc.Quantile == 0 {
		fc.Quantile = DefaultQuantile
	}
	if fc.Model == "" {
		fc.Model = DefaultModel
	}
	if fc.History == 0 {
		fc.History = DefaultHistory
	}
	if fc.RefitInterval == 0 {
		fc.RefitInterval = DefaultRefitInterval
	}
	if fc.Step == 0 {
		fc.Step = DefaultStep
	}
	if fc.StaleAfter == 0 {
		fc.StaleAfter = max(DefaultStaleAfter, 2*fc.Step)
	}
	if r.Cost != nil {
		r.Cost.SetDefaults()
	}
	if r.Shadow != nil {
		r.Shadow.SetDefaults(r.Cost, r.SLO)
	}
	if r.SLO != nil {
		r.SLO.SetDefaults()
	}
	if r.Queue != nil {
		r.Queue.SetDefaults()
	}
}

// metricNameRE is what Foresight accepts as a metric name: a Prometheus-style
// name that is also a valid URL path segment of the metrics APIs.
var metricNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_.:-]*$`)

// Validate checks the file (after SetDefaults) and returns every problem found as
// a strictyaml.Errors sorted by line, each with the line of the offending field.
func (f *File) Validate() error {
	var errs strictyaml.Errors
	add := func(field, format string, args ...any) {
		errs = append(errs, &strictyaml.Error{File: f.Filename, Line: f.lines.Line(field), Path: field, Msg: fmt.Sprintf(format, args...)})
	}
	// fixed checks a field that has one allowed value.
	fixed := func(field, got, want string) {
		switch got {
		case want:
		case "":
			add(field, "required, must be %q", want)
		default:
			add(field, "must be %q, got %q", want, got)
		}
	}
	fixed("apiVersion", f.APIVersion, APIVersion)
	fixed("kind", f.Kind, Kind)
	if len(f.Rules) == 0 && f.ResourceMetrics == nil {
		add("rules", "at least one rule (or resourceMetrics) is required")
	}
	if f.ResourceMetrics != nil {
		f.ResourceMetrics.validate("resourceMetrics", add)
	}
	names := map[string]int{}
	for i := range f.Rules {
		r := &f.Rules[i]
		p := fmt.Sprintf("rules[%d]", i)
		// A metric name is served by one pods or external rule, and by one object
		// rule of each resource besides.
		key := r.ServedKey()
		if j, dup := names[key]; dup && r.Name != "" {
			add(p+".name", "duplicate metric name %q (also rules[%d])", r.Name, j)
		} else {
			names[key] = i
		}
		r.validate(p, add)
	}
	return errs.Err()
}

// Validate checks one rule (after SetDefaults).
func (r *Rule) Validate() error {
	var errs strictyaml.Errors
	r.validate("", func(field, format string, args ...any) {
		errs = append(errs, &strictyaml.Error{Line: r.Line, Path: field, Msg: fmt.Sprintf(format, args...)})
	})
	return errs.Err()
}

func (r *Rule) validate(p string, add func(field, format string, args ...any)) {
	at := func(field string) string {
		if p == "" {
			return field
		}
		return p + "." + field
	}
	// name
	switch {
	case r.Name == "":
		add(at("name"), "required")
	case len(r.Name) > 253:
		add(at("name"), "must be at most 253 characters, got %d", len(r.Name))
	case !metricNameRE.MatchString(r.Name):
		add(at("name"), "must match %s, got %q", metricNameRE, r.Name)
	default:
		if msgs := content.IsPathSegmentName(r.Name); len(msgs) > 0 {
			add(at("name"), "%s", strings.Join(msgs, "; "))
		}
	}
	// api and resources
	res := r.Resources
	if err := source.ValidateLabelName(res.NamespaceLabel); err != nil {
		add(at("resources.namespaceLabel"), "%v", err)
	}
	switch r.API {
	case APIExternal:
		if res.Group != "" || res.Resource != "" || res.Label != "" {
			add(at("resources"), "group, resource and label apply only to object and pods rules")
		}
	case APIObject:
		if res.ClusterWide {
			add(at("resources.clusterWide"), "applies only to external rules")
		}
		if res.Resource == "" {
			add(at("resources.resource"), "required for object rules, e.g. services or deployments")
		} else if msgs := validation.IsDNS1123Label(res.Resource); len(msgs) > 0 {
			add(at("resources.resource"), "must be a lowercase plural resource name: %s", strings.Join(msgs, "; "))
		}
		if res.Group != "" {
			if msgs := validation.IsDNS1123Subdomain(res.Group); len(msgs) > 0 {
				add(at("resources.group"), "must be an API group like apps: %s", strings.Join(msgs, "; "))
			}
		}
		if res.Label == "" {
			add(at("resources.label"), "required for object rules: the series label holding the object's name")
		} else if r.namespaces() && res.Label != res.NamespaceLabel {
			add(at("resources.label"), "a namespaces rule's object label is its namespace label %q, got %q", res.NamespaceLabel, res.Label)
		}
	case APIPods:
		if res.ClusterWide {
			add(at("resources.clusterWide"), "applies only to external rules")
		}
		if res.Group != "" || res.Resource != "pods" {
			add(at("resources.resource"), "pods rules serve the core group's pods, got %q", res.GroupResource())
		}
	default:
		add(at("api"), "must be one of external, object, pods, got %q", r.API)
	}
	if (r.API == APIObject || r.API == APIPods) && res.Label != "" {
		if err := source.ValidateLabelName(res.Label); err != nil {
			add(at("resources.label"), "%v", err)
		}
	}
	// query
	if r.Query == "" {
		add(at("query"), "required")
	} else if err := r.validateQuery(r.Query); err != nil {
		add(at("query"), "%v", err)
	}
	fcErrs := 0
	r.Forecast.validate(at("forecast"), func(field, format string, args ...any) {
		fcErrs++
		add(field, format, args...)
	})
	if fcErrs == 0 {
		// What the forecaster itself will refuse when serve starts (the
		// warm-up, four horizons of history, ...), refused here first.
		fs := r.ForecastSettings()
		fs.SetDefaults()
		if err := fs.Validate(); err != nil {
			add(at("forecast"), "%v", err)
		}
	}
	if r.Cost != nil {
		r.Cost.validate(at("cost"), r.Forecast, add)
	}
	if r.Shadow != nil {
		r.Shadow.validate(at("shadow"), r, add)
	}
	r.validateSchedule(at, add)
	if r.Queue != nil {
		r.Queue.validate(at("queue"), r, add)
	}
	if r.Share != nil {
		r.Share.validate(at("share"), r, add)
	}
	if r.SLO != nil {
		r.SLO.validate(at("slo"), r, add)
	}
}

// namespaces reports whether r serves namespaces (an object rule of the
// core group's namespaces): one value per namespace, which may share its
// metric name with one other rule.
func (r *Rule) namespaces() bool {
	return r.API == APIObject && (r.Resources.Group == "" || r.Resources.Group == "core") && r.Resources.Resource == "namespaces"
}

// validateQuery renders a query template of the rule with sample matchers and checks the result.
func (r *Rule) validateQuery(query string) error {
	tmpl, err := source.ParseTemplate(query)
	if err != nil {
		return err
	}
	nsLabel := r.Resources.NamespaceLabel
	if source.ValidateLabelName(nsLabel) != nil {
		return nil // reported on resources.namespaceLabel
	}
	sample := []*labels.Matcher{
		labels.MustNewMatcher(labels.MatchRegexp, "app", "(?:a|b)"),
		labels.MustNewMatcher(labels.MatchEqual, nsLabel, "default"),
	}
	q, err := tmpl.Render(sample)
	if err != nil {
		return err
	}
	expr, err := source.ParseQuery(q)
	if err != nil {
		return fmt.Errorf("renders to invalid PromQL: %w", err)
	}
	if expr.Type() != parser.ValueTypeVector {
		return fmt.Errorf("must return an instant vector, returns a %s", expr.Type())
	}
	if !r.Resources.ClusterWide && dropsLabel(expr, nsLabel) {
		return fmt.Errorf("its result drops the namespace label %q (an aggregation's by (...) or a vector matching's on (...) leaves it out): add it there", nsLabel)
	}
	if (r.API == APIObject || r.API == APIPods) && r.Resources.Label != "" && dropsLabel(expr, r.Resources.Label) {
		return fmt.Errorf("its result drops the object label %q (an aggregation's by (...) or a vector matching's on (...) leaves it out): add it there", r.Resources.Label)
	}
	return nil
}

// dropsLabel reports whether expr's result series certainly lack label, when the series
// it selects carry it: an aggregation's by (...) (or without (...)), or a vector
// matching's on (...) (or ignoring (...)), on the way to the result leaves it out.
func dropsLabel(expr parser.Expr, label string) bool {
	return !labelKept(expr, label, func(*parser.VectorSelector) bool { return true }, false)
}

// KeepLabel rewrites expr as if it were evaluated for each value of label apart: every
// aggregation whose input series carry label keeps it (a by (...) gains it, a without
// (...) loses it), and every vector matching whose two sides carry it matches on it too
// (an on (...) gains it, an ignoring (...) loses it). carried says whether a selector's
// series carry label. It returns whether expr's result series carry label.
func KeepLabel(expr parser.Expr, label string, carried func(*parser.VectorSelector) bool) bool {
	return labelKept(expr, label, carried, true)
}

// labelKept says whether expr's result series carry label, given which selectors' series
// carry it; with fix, it first makes each aggregation and vector matching keep label where
// its inputs carry it (KeepLabel).
func labelKept(expr parser.Expr, label string, carried func(*parser.VectorSelector) bool, fix bool) bool {
	kept := func(e parser.Expr) bool { return labelKept(e, label, carried, fix) }
	switch e := expr.(type) {
	case *parser.ParenExpr:
		return kept(e.Expr)
	case *parser.StepInvariantExpr:
		return kept(e.Expr)
	case *parser.SubqueryExpr:
		return kept(e.Expr)
	case *parser.MatrixSelector:
		return kept(e.VectorSelector)
	case *parser.VectorSelector:
		return carried(e)
	case *parser.Call:
		switch e.Func.Name {
		case "absent", "absent_over_time", "vector", "scalar", "time":
			// Series without the input's labels. Inside scalar() the input must stay
			// one series: grouping it by label would make scalar() NaN.
			return false
		}
		carries := false
		for _, a := range e.Args {
			if k := kept(a); k && (a.Type() == parser.ValueTypeVector || a.Type() == parser.ValueTypeMatrix) {
				carries = true
			}
		}
		return carries
	case *parser.AggregateExpr:
		// The parameter (topk's k, quantile's φ) is a scalar: it is left as written.
		if !kept(e.Expr) {
			return false
		}
		if sl, ok := e.Param.(*parser.StringLiteral); ok && e.Op == parser.COUNT_VALUES && sl.Val == label {
			return true // count_values writes the label itself
		}
		has := slices.Contains(e.Grouping, label)
		if fix {
			switch {
			case e.Without && has:
				e.Grouping = slices.DeleteFunc(e.Grouping, func(g string) bool { return g == label })
			case !e.Without && !has:
				e.Grouping = append(e.Grouping, label)
			}
			return true
		}
		switch e.Op {
		case parser.TOPK, parser.BOTTOMK, parser.LIMITK, parser.LIMIT_RATIO:
			return true // they keep their input's labels
		}
		return e.Without != has
	case *parser.BinaryExpr:
		l, r := kept(e.LHS), kept(e.RHS)
		lv, rv := e.LHS.Type() == parser.ValueTypeVector, e.RHS.Type() == parser.ValueTypeVector
		vm := e.VectorMatching
		switch {
		case !rv:
			return lv && l
		case !lv:
			return r
		case vm == nil:
			return l
		}
		has := slices.Contains(vm.MatchingLabels, label)
		if fix && l && r {
			switch {
			case vm.On && !has:
				vm.MatchingLabels = append(vm.MatchingLabels, label)
				// A label matched on is not also copied from the one side.
				vm.Include = slices.DeleteFunc(vm.Include, func(g string) bool { return g == label })
			case !vm.On && has:
				vm.MatchingLabels = slices.DeleteFunc(vm.MatchingLabels, func(g string) bool { return g == label })
			}
			has = vm.On
		}
		switch {
		case e.Op == parser.LOR:
			return l || r
		case e.Op.IsSetOperator():
			return l
		case vm.Card == parser.CardManyToOne:
			return l || slices.Contains(vm.Include, label) && r
		case vm.Card == parser.CardOneToMany:
			return r || slices.Contains(vm.Include, label) && l
		case vm.On:
			return has && l
		default:
			return !has && l
		}
	}
	return false
}

// OutermostAggregation returns the aggregation that decides the labels of
// expr's result series: expr's own, inside parentheses and through topk,
// bottomk, limitk and limit_ratio, which keep their input's labels; nil when
// expr is no aggregation.
func OutermostAggregation(expr parser.Expr) *parser.AggregateExpr {
	for {
		switch e := expr.(type) {
		case *parser.ParenExpr:
			expr = e.Expr
		case *parser.AggregateExpr:
			switch e.Op {
			case parser.TOPK, parser.BOTTOMK, parser.LIMITK, parser.LIMIT_RATIO:
				expr = e.Expr
				continue
			}
			return e
		default:
			return nil
		}
	}
}

func (fc *Forecast) validate(p string, add func(field, format string, args ...any)) {
	at := func(field string) string { return p + "." + field }
	if !slices.Contains(forecast.Models(), fc.Model) {
		add(at("model"), "must be one of %s, got %q", forecast.ModelNames(), fc.Model)
	}
	if !(fc.Quantile > 0 && fc.Quantile < 1) {
		add(at("quantile"), "must be in (0,1), got %g", fc.Quantile)
	}
	positive := func(field string, d time.Duration) bool {
		if d <= 0 {
			add(at(field), "must be positive, got %s", d)
			return false
		}
		return true
	}
	if !positive("step", fc.Step) || !positive("horizon", fc.Horizon) || !positive("history", fc.History) {
		return
	}
	if fc.Step < time.Second || fc.Step%time.Second != 0 {
		add(at("step"), "must be a whole number of seconds, at least 1s, got %s", fmtDur(fc.Step))
	}
	if fc.Horizon%fc.Step != 0 {
		add(at("horizon"), "must be a multiple of step %s, got %s", fmtDur(fc.Step), fmtDur(fc.Horizon))
	}
	if fc.History%fc.Step != 0 {
		add(at("history"), "must be a multiple of step %s, got %s", fmtDur(fc.Step), fmtDur(fc.History))
	}
	if fc.History < 2*fc.Horizon || fc.History < 10*fc.Step {
		add(at("history"), "must cover at least twice the horizon and 10 steps, got %s", fmtDur(fc.History))
	}
	if pts := fc.History / fc.Step; pts > MaxHistoryPoints {
		add(at("history"), "holds %d steps of %s, at most %d are allowed: use a larger step or a shorter history", pts, fmtDur(fc.Step), MaxHistoryPoints)
	}
	if fc.RefitInterval < fc.Step {
		add(at("refitInterval"), "must be at least step %s, got %s", fmtDur(fc.Step), fmtDur(fc.RefitInterval))
	}
	if fc.StaleAfter < fc.Step {
		add(at("staleAfter"), "must be at least step %s, got %s", fmtDur(fc.Step), fmtDur(fc.StaleAfter))
	}
}

func fmtDur(d time.Duration) string {
	if d > 0 && d%time.Millisecond == 0 {
		return modelDuration(d)
	}
	return d.String()
}
