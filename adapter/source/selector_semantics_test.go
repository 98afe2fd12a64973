package source

import (
	"maps"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// seriesLabelSets returns label sets of series in namespace ns: every
// combination of labels a, b and c absent or x, y or z, and one set per
// value the selector names. A series' labels never have the empty value
// (Prometheus drops such labels).
func seriesLabelSets(sel k8slabels.Selector) []map[string]string {
	var sets []map[string]string
	vals := []string{"", "x", "y", "z"}
	for i := range 64 {
		set := map[string]string{"namespace": "ns"}
		for j, k := range []string{"a", "b", "c"} {
			if v := vals[i>>(2*j)&3]; v != "" {
				set[k] = v
			}
		}
		sets = append(sets, set)
	}
	if reqs, ok := sel.Requirements(); ok {
		for _, r := range reqs {
			for _, v := range r.ValuesUnsorted() {
				if v != "" && r.Key() != "namespace" {
					sets = append(sets, map[string]string{"namespace": "ns", r.Key(): v})
				}
			}
		}
	}
	return sets
}

// checkMeansWhatKubernetesMeans fails t unless the matchers of the selector
// text select, among series of namespace ns, exactly the label sets that
// labels.Selector.Matches selects, or the translation refuses the selector
// for a reason it documents.
func checkMeansWhatKubernetesMeans(t *testing.T, text string) {
	t.Helper()
	sel, err := k8slabels.Parse(text)
	if err != nil {
		return
	}
	checkClusterMeansWhatKubernetesMeans(t, text, sel)
	ms, err := SelectorMatchers("namespace", "ns", sel)
	sets := seriesLabelSets(sel)
	if err != nil {
		if !unsupported(sel) {
			t.Fatalf("selector %q refused: %v", text, err)
		}
		return
	}
	for _, set := range sets {
		if got, want := Match(labels.FromMap(set), ms), sel.Matches(k8slabels.Set(set)); got != want {
			t.Fatalf("selector %q (matchers %v) on %v: matches %v, Kubernetes %v", text, ms, set, got, want)
		}
	}
}

// checkClusterMeansWhatKubernetesMeans fails t unless the matchers of a
// cluster-wide metric's selector select, among series of several namespaces
// and of none, exactly the label sets Kubernetes selects: the namespace
// label is a label like any other there.
func checkClusterMeansWhatKubernetesMeans(t *testing.T, text string, sel k8slabels.Selector) {
	t.Helper()
	ms, err := ClusterSelectorMatchers(sel)
	if err != nil {
		if !unsupported(sel) {
			t.Fatalf("cluster-wide selector %q refused: %v", text, err)
		}
		return
	}
	for _, set := range seriesLabelSets(sel) {
		for _, ns := range []string{"ns", "x", "other", ""} {
			set := maps.Clone(set)
			if ns == "" {
				delete(set, "namespace")
			} else {
				set["namespace"] = ns
			}
			if got, want := Match(labels.FromMap(set), ms), sel.Matches(k8slabels.Set(set)); got != want {
				t.Fatalf("cluster-wide selector %q (matchers %v) on %v: matches %v, Kubernetes %v", text, ms, set, got, want)
			}
		}
	}
}

// unsupported reports whether sel has what SelectorMatchers documents it
// refuses: Gt or Lt, a key that is not a Prometheus label name or is
// reserved, more values than MaxSelectorValues.
func unsupported(sel k8slabels.Selector) bool {
	reqs, _ := sel.Requirements()
	values := 0
	for _, r := range reqs {
		if r.Operator() == selection.GreaterThan || r.Operator() == selection.LessThan || ValidateLabelName(r.Key()) != nil {
			return true
		}
		values += len(r.ValuesUnsorted())
	}
	return values > MaxSelectorValues
}

// Empty values mean what they mean to Kubernetes: a missing label is not a
// label with the empty value.
func TestEmptyValuesMeanWhatKubernetesMeans(t *testing.T) {
	for _, text := range []string{
		"a=", "a==", "a!=", "a in (x,)", "a in (,)", "a notin (x,)", "a notin (,)", "a in (x,y)", "a notin (x)",
		"a=x", "a!=x", "a", "!a", "a=,b", "a!=,!b", "namespace=", "namespace!=", "namespace in (ns,)", "namespace notin (,)",
	} {
		t.Run(text, func(t *testing.T) { checkMeansWhatKubernetesMeans(t, text) })
	}
}

// randomSelector returns a selector text of up to three requirements on
// keys a, b, c, the namespace label and keys Prometheus does not take, with
// every operator and values among "", x, y, z.
func randomSelector(r *rand.Rand) string {
	keys := []string{"a", "b", "c", "namespace", "example.com/a", "__a"}
	vals := []string{"", "x", "y", "z", "ns"}
	value := func() string { return vals[r.IntN(len(vals))] }
	reqs := make([]string, 1+r.IntN(3))
	for i := range reqs {
		k := keys[r.IntN(len(keys))]
		switch r.IntN(9) {
		case 0:
			reqs[i] = k + "=" + value()
		case 1:
			reqs[i] = k + "==" + value()
		case 2:
			reqs[i] = k + "!=" + value()
		case 3, 4:
			op := " in "
			if r.IntN(2) == 0 {
				op = " notin "
			}
			vs := make([]string, 1+r.IntN(3))
			for j := range vs {
				vs[j] = value()
			}
			reqs[i] = k + op + "(" + strings.Join(vs, ",") + ")"
		case 5:
			reqs[i] = k
		case 6:
			reqs[i] = "!" + k
		case 7:
			reqs[i] = k + " gt " + []string{"1", "5"}[r.IntN(2)]
		default:
			reqs[i] = k + " lt 3"
		}
	}
	return strings.Join(reqs, ",")
}

func TestSelectorMatchersDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		checkMeansWhatKubernetesMeans(t, randomSelector(r))
	}
}

// FuzzSelectorMeansWhatKubernetesMeans compares the matchers of any
// selector text with labels.Selector.Matches on series label sets.
func FuzzSelectorMeansWhatKubernetesMeans(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 64 {
		f.Add(randomSelector(r))
	}
	for _, s := range []string{"a=", "a in (x,)", "a notin (,)", "a!=", "namespace in (ns,)", "!namespace"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) { checkMeansWhatKubernetesMeans(t, text) })
}
