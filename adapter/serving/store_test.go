package serving

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/foresight-dev/foresight/adapter/forecast"
)

func testSnapshot(metric string, at time.Time, ready bool, series ...labels.Labels) *Snapshot {
	snap := &Snapshot{
		Info:        RuleInfo{Metric: metric, API: APIExternal, NamespaceLabel: "namespace", StaleAfter: 5 * time.Minute},
		ByNamespace: map[string][]*Entry{},
		Ready:       ready,
	}
	for i, ls := range series {
		e := &Entry{Labels: ls, Key: ls.String(), Namespace: ls.Get("namespace"),
			Forecast: forecast.Forecast{At: at.Unix(), Value: float64(i + 1), Observed: float64(i + 1), Model: forecast.ModelReactive}}
		snap.ByNamespace[e.Namespace] = append(snap.ByNamespace[e.Namespace], e)
		snap.Series++
	}
	snap.Index()
	return snap
}

func TestStoreLookup(t *testing.T) {
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	clock := now
	s := NewStore(func() time.Time { return clock })
	s.Publish(testSnapshot("rps", now, true,
		labels.FromStrings("namespace", "a", "service", "web"),
		labels.FromStrings("namespace", "a", "service", "api"),
		labels.FromStrings("namespace", "b", "service", "web")))
	s.Publish(testSnapshot("warming", now, false))

	eq := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchEqual, n, v) }
	re := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchRegexp, n, v) }
	for _, tc := range []struct {
		name     string
		q        Query
		want     []float64
		wantErr  error
		wantStal bool
	}{
		{name: "namespace a", q: Query{Metric: "rps", API: APIExternal, Namespace: "a"}, want: []float64{1, 2}},
		{name: "namespace b", q: Query{Metric: "rps", API: APIExternal, Namespace: "b"}, want: []float64{3}},
		{name: "empty namespace", q: Query{Metric: "rps", API: APIExternal, Namespace: "c"}},
		{name: "indexed equality", q: Query{Metric: "rps", API: APIExternal, Namespace: "a", Matchers: []*labels.Matcher{eq("service", "web")}}, want: []float64{1}},
		{name: "equality on a missing value", q: Query{Metric: "rps", API: APIExternal, Namespace: "a", Matchers: []*labels.Matcher{eq("service", "nope")}}},
		{name: "regexp", q: Query{Metric: "rps", API: APIExternal, Namespace: "a", Matchers: []*labels.Matcher{re("service", "a.*")}}, want: []float64{2}},
		{name: "matcher naming another namespace never widens the read", q: Query{Metric: "rps", API: APIExternal, Namespace: "a", Matchers: []*labels.Matcher{eq("namespace", "b")}}},
		{name: "unknown metric", q: Query{Metric: "nope", API: APIExternal, Namespace: "a"}, wantErr: ErrUnknownMetric},
		{name: "wrong API", q: Query{Metric: "rps", API: APIPods, Resource: schema.GroupResource{Resource: "pods"}, Namespace: "a"}, wantErr: ErrUnknownMetric},
		{name: "not ready", q: Query{Metric: "warming", API: APIExternal, Namespace: "a"}, wantStal: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			es, _, err := s.Lookup(tc.q)
			var stale *StaleError
			switch {
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			case tc.wantStal:
				if !errors.As(err, &stale) {
					t.Fatalf("err = %v, want a StaleError", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			var got []float64
			for _, e := range es {
				if e.Namespace != tc.q.Namespace {
					t.Errorf("entry of namespace %q in a read of %q", e.Namespace, tc.q.Namespace)
				}
				got = append(got, e.Forecast.Value)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) && (len(got) != 0 || len(tc.want) != 0) {
				t.Errorf("values %v, want %v", got, tc.want)
			}
		})
	}

	t.Run("stale past the limit, never a value", func(t *testing.T) {
		clock = now.Add(5 * time.Minute)
		if _, _, err := s.Lookup(Query{Metric: "rps", API: APIExternal, Namespace: "a"}); err != nil {
			t.Errorf("at the limit: %v", err)
		}
		clock = now.Add(5*time.Minute + time.Second)
		es, _, err := s.Lookup(Query{Metric: "rps", API: APIExternal, Namespace: "a"})
		var stale *StaleError
		if !errors.As(err, &stale) || es != nil {
			t.Errorf("past the limit: %v, %v; want a StaleError and no entries", es, err)
		}
		clock = now
	})

	t.Run("retain drops removed rules", func(t *testing.T) {
		s.Retain(map[string]bool{"rps": true})
		if s.Snapshot("warming") != nil || s.Snapshot("rps") == nil {
			t.Error("retain kept the wrong rules")
		}
		if !s.Ready() {
			t.Error("store with only ready rules is not ready")
		}
	})
}

// TestStoreConcurrentReads publishes snapshots while readers look up; run with -race.
func TestStoreConcurrentReads(t *testing.T) {
	now := time.Now()
	s := NewStore(func() time.Time { return now })
	var series []labels.Labels
	for i := range 200 {
		series = append(series, labels.FromStrings("namespace", fmt.Sprintf("ns-%d", i%5), "service", fmt.Sprintf("svc-%d", i)))
	}
	s.Publish(testSnapshot("rps", now, true, series...))
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ns := fmt.Sprintf("ns-%d", (i+r)%5)
				es, _, err := s.Lookup(Query{Metric: "rps", API: APIExternal, Namespace: ns})
				if err != nil || len(es) != 40 {
					t.Errorf("lookup %s: %d entries, %v", ns, len(es), err)
					return
				}
			}
		})
	}
	for range 200 {
		s.Publish(testSnapshot("rps", now, true, series...))
		s.Publish(testSnapshot(fmt.Sprintf("other-%d", len(series)%3), now, true))
	}
	close(stop)
	wg.Wait()
}
