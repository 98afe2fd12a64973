package main

import (
	"fmt"
	"time"
)

// report collects the figures of both adapters for the summary.
type report struct {
	warm                        warmStart
	warmModel                   string
	latencyModel, memModel      string
	foresightMemWarm            memory
	foresightMemLoad            memory
	foresightOne, foresightMany *result
	foresightOpen, peerOpen     []*result // one per rate of options.rates
	peerFirst                   time.Duration
	peerMemIdle, peerMemLoad    memory
	peerOne, peerMany           *result
	top                         []topResult // the top phase, one per adapter
}

// print writes the side-by-side summary and the ratios against the adapter's latency and throughput goals.
func (r *report) print(o options) {
	fmt.Printf("\n== summary (same Prometheus, same data, same authn/authz, same client)\n")
	fmt.Printf("%-52s %-34s %s\n", "", "foresight-adapter", "prometheus-adapter v0.12.0")
	row := func(name string, f, p *result, cell func(*result) string) {
		if f == nil && p == nil {
			return
		}
		fmt.Printf("%-52s %-34s %s\n", name, orDash(f, cell), orDash(p, cell))
	}
	lat := func(x *result) string {
		return fmt.Sprintf("p50 %s p99 %s p99.9 %s, %.0f/s", round(x.q(0.5)), round(x.q(0.99)), round(x.q(0.999)), x.rate())
	}
	row(fmt.Sprintf("1 client, %d series", o.series), r.foresightOne, r.peerOne, lat)
	row(fmt.Sprintf("%d clients, %d series", o.clients, o.series), r.foresightMany, r.peerMany, func(x *result) string {
		return fmt.Sprintf("%.0f req/s, p99 %s", x.rate(), round(x.q(0.99)))
	})
	for i, rate := range o.rates {
		row(fmt.Sprintf("open loop %d req/s, %d series", rate, o.wideNS*o.widePerNS), at(r.foresightOpen, i), at(r.peerOpen, i), func(x *result) string {
			s := fmt.Sprintf("p99 %s, %.0f ok/s", round(x.q(0.99)), x.okRate())
			if x.failed > 0 {
				s += fmt.Sprintf(", %d failed", x.failed)
			}
			return s
		})
	}
	if r.foresightOne != nil || r.peerOne != nil {
		memCell := func(m memory) string {
			if m.rss == 0 {
				return "-"
			}
			heap := "n/a"
			if m.heapInUse > 0 {
				heap = fmt.Sprintf("%.0f MiB", mib(m.heapInUse))
			}
			return fmt.Sprintf("RSS %.0f MiB, heap %s", mib(m.rss), heap)
		}
		fmt.Printf("%-52s %-34s %s\n", fmt.Sprintf("memory, %d series x %s, idle", o.series, o.history), memCell(r.foresightMemWarm), memCell(r.peerMemIdle))
		fmt.Printf("%-52s %-34s %s\n", "memory after the load phases (RSS peak)", peak(r.foresightMemLoad), peak(r.peerMemLoad))
		warm := "-"
		if r.warm.total > 0 {
			if r.warm.timedOut {
				warm = fmt.Sprintf("%d of %d serving at %s", r.warm.serving, r.warm.total, r.warm.all.Round(time.Second))
			} else {
				warm = fmt.Sprintf("all %d in %s", r.warm.total, r.warm.all.Round(100*time.Millisecond))
			}
		}
		peer := "-"
		if r.peerFirst > 0 {
			peer = "first answer " + r.peerFirst.Round(100*time.Millisecond).String() + " (no history)"
		}
		fmt.Printf("%-52s %-34s %s\n", "warm start, model "+r.warmModel, warm, peer)
		if r.latencyModel != "" && r.latencyModel != r.warmModel {
			fmt.Printf("  (model %s did not warm within %s: foresight's memory and load figures are with model %s)\n", r.warmModel, o.warmTimeout, r.latencyModel)
		}
	}

	fmt.Printf("\n== against the goals\n")
	if f, p := r.foresightOne, r.peerOne; f != nil {
		fmt.Printf("1 client p99 %s (goal < 1 ms: %s)", round(f.q(0.99)), verdict(f.q(0.99) < time.Millisecond))
		if p != nil {
			fmt.Printf("; peer p99 %s, ratio foresight/peer %.3f", round(p.q(0.99)), ratio(f.q(0.99), p.q(0.99)))
		}
		fmt.Println()
	}
	if f, p := r.foresightMany, r.peerMany; f != nil && p != nil {
		tr := f.rate() / p.rate()
		pr := ratio(f.q(0.99), p.q(0.99))
		fmt.Printf("%d clients: throughput ratio foresight/peer %.2fx (goal >= 5x: %s); p99 ratio foresight/peer %.3f (goal <= 0.1: %s)\n",
			o.clients, tr, verdict(tr >= 5), pr, verdict(pr <= 0.1))
	}
	for i, rate := range o.rates {
		f, p := at(r.foresightOpen, i), at(r.peerOpen, i)
		if f == nil {
			continue
		}
		goal := fmt.Sprintf(" (goal < 5 ms: %s)", verdict(f.q(0.99) < 5*time.Millisecond && f.failed == 0))
		if rate != 1000 {
			goal = " (reference rate, no goal)"
		}
		fmt.Printf("open loop %d req/s on %d series: foresight p99 %s, %d failed%s", rate, o.wideNS*o.widePerNS, round(f.q(0.99)), f.failed, goal)
		if p != nil {
			fmt.Printf("; peer p99 %s, %d failed, ratio foresight/peer %.3f", round(p.q(0.99)), p.failed, ratio(f.q(0.99), p.q(0.99)))
		}
		fmt.Println()
	}
	if m := r.foresightMemWarm; m.rss > 0 {
		fmt.Printf("memory %d series x %s (model %s): RSS %.0f MiB (goal < 200 MiB: %s)", o.series, o.history, r.memModel, mib(m.rss), verdict(mib(m.rss) < 200))
		if r.peerMemIdle.rss > 0 {
			fmt.Printf("; peer RSS %.0f MiB", mib(r.peerMemIdle.rss))
		}
		fmt.Println()
	}
	if r.warm.total > 0 {
		fmt.Printf("warm start, model %s: %s (goal all within 60 s: %s)\n", r.warmModel, r.warm, verdict(!r.warm.timedOut && r.warm.all <= time.Minute))
	}
	r.printTop()
}

// printTop writes the top phase's figures and its goals: foresight's p99 at
// most a fifth of the peer's, its memory under 150 MiB.
func (r *report) printTop() {
	if len(r.top) == 0 {
		return
	}
	pods := topNamespaces * topPodsPerNS
	fmt.Printf("\n== kubectl top pods -A: %d pods, %d nodes, metrics.k8s.io through the aggregator, 1 client\n", pods, topNodes)
	var f, p *topResult
	for i := range r.top {
		t := &r.top[i]
		fmt.Printf("%-10s p50 %-9s p99 %-9s max %-9s %3d requests, %d failed; CPU/request adapter %s, Prometheus %s; serving all pods %s after start; RSS %.0f MiB (peak %.0f MiB)\n",
			t.name, round(t.res.q(0.5)), round(t.res.q(0.99)), round(t.res.q(1)), t.res.requests, t.res.failed,
			(t.res.adapterCPU / time.Duration(max(1, t.res.requests))).Round(time.Microsecond), (t.res.promCPU / time.Duration(max(1, t.res.requests))).Round(time.Microsecond),
			t.warmup.Round(100*time.Millisecond), mib(t.mem.rss), mib(t.mem.hwm))
		switch t.name {
		case "foresight":
			f = t
		case "peer":
			p = t
		}
	}
	if f != nil && p != nil {
		fp, pp := f.res.q(0.99), p.res.q(0.99)
		fmt.Printf("top p99: peer/foresight %.1fx (goal >= 5x: %s)\n", float64(pp)/float64(max(1, fp)), verdict(pp >= 5*fp && f.res.failed == 0))
	}
	if f != nil {
		fmt.Printf("top memory, %d pods and %d nodes: foresight RSS peak %.0f MiB (goal < 150 MiB: %s)\n", pods, topNodes, mib(f.mem.hwm), verdict(mib(f.mem.hwm) < 150))
	}
}

func orDash(x *result, cell func(*result) string) string {
	if x == nil {
		return "-"
	}
	return cell(x)
}

func peak(m memory) string {
	if m.rss == 0 {
		return "-"
	}
	return fmt.Sprintf("RSS %.0f MiB (peak %.0f MiB)", mib(m.rss), mib(m.hwm))
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

func at(rs []*result, i int) *result {
	if i < len(rs) {
		return rs[i]
	}
	return nil
}
