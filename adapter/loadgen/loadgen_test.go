package loadgen

import (
	"math"
	"testing"
	"time"
)

var start = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC) // a Monday

func TestDeterministic(t *testing.T) {
	p := Default(100, 7)
	q := Default(100, 7)
	other := Default(100, 8)
	differ := 0
	for i := 0; i < 5000; i++ {
		ts := start.Add(time.Duration(i) * 37 * time.Second)
		a, b := p.At(ts), q.At(ts)
		if a != b {
			t.Fatalf("At(%v) = %v and %v for the same profile", ts, a, b)
		}
		if a != p.At(ts) {
			t.Fatalf("At(%v) is not repeatable", ts)
		}
		if a < 0 || math.IsNaN(a) || math.IsInf(a, 0) {
			t.Fatalf("At(%v) = %v", ts, a)
		}
		if other.At(ts) != a {
			differ++
		}
	}
	if differ < 4000 {
		t.Errorf("another seed changed only %d of 5000 values", differ)
	}
	// Evaluation order does not matter: backwards gives the same values.
	fw := p.Samples(start, start.Add(time.Hour), time.Minute)
	for i := len(fw) - 1; i >= 0; i-- {
		if v := p.At(start.Add(time.Duration(i) * time.Minute)); v != fw[i] {
			t.Fatalf("backwards At differs at %d", i)
		}
	}
}

func TestDailyAndWeeklyShape(t *testing.T) {
	p := Default(100, 1)
	xs := p.Samples(start, start.Add(14*24*time.Hour), time.Minute)
	if len(xs) != 14*1440 {
		t.Fatalf("got %d samples", len(xs))
	}
	acDay := autocorr(xs, 1440)
	acHalf := autocorr(xs, 720)
	acWeek := autocorr(xs, 7*1440)
	t.Logf("autocorrelation: lag 12h %.3f, 24h %.3f, 7d %.3f", acHalf, acDay, acWeek)
	if acDay < 0.7 {
		t.Errorf("autocorrelation at 24h = %.3f, want a visible daily period (> 0.7)", acDay)
	}
	if acHalf > 0 {
		t.Errorf("autocorrelation at 12h = %.3f, want negative (peak vs trough)", acHalf)
	}
	if acWeek <= acDay {
		t.Errorf("autocorrelation at 7d (%.3f) not above 24h (%.3f): weekly shape missing", acWeek, acDay)
	}
	// Peak near 14:00, trough at night.
	if peak, night := p.Smooth(start.Add(14*time.Hour)), p.Smooth(start.Add(2*time.Hour)); peak < 2*night {
		t.Errorf("peak %v not well above night %v", peak, night)
	}
	// Weekends lower than weekdays at the same hour (Nov 7 2026 is a Saturday).
	if sat, mon := p.Smooth(start.Add(5*24*time.Hour+14*time.Hour)), p.Smooth(start.Add(14*time.Hour)); math.Abs(sat/mon-0.6) > 1e-9 {
		t.Errorf("Saturday/Monday = %v, want 0.6", sat/mon)
	}
	// The weekend boundary is continuous.
	fri := start.Add(5 * 24 * time.Hour)
	for d := -time.Hour; d < time.Hour; d += time.Minute {
		a, b := p.Smooth(fri.Add(d)), p.Smooth(fri.Add(d+time.Minute))
		if math.Abs(a-b) > 2 {
			t.Fatalf("step of %v at %v", b-a, fri.Add(d))
		}
	}
}

func TestBursts(t *testing.T) {
	p := Default(100, 3)
	p.Noise = 0
	days := 30
	bursts := 0
	in := false
	for i := 0; i < days*1440; i++ {
		ts := start.Add(time.Duration(i) * time.Minute)
		b := p.At(ts) > p.Smooth(ts)*1.2
		if b && !in {
			bursts++
		}
		in = b
	}
	perDay := float64(bursts) / float64(days)
	if perDay < 1.5 || perDay > 4.5 {
		t.Errorf("%.2f bursts per day, want about 3", perDay)
	}
	p.BurstsPerDay = 0
	for i := 0; i < 1440; i++ {
		ts := start.Add(time.Duration(i) * time.Minute)
		if p.At(ts) != p.Smooth(ts) {
			t.Fatal("no noise and no bursts must equal the smooth shape")
		}
	}
}

func TestNoiseLevel(t *testing.T) {
	p := Profile{Base: 100, Noise: 0.1, Seed: 9}
	var sum, sq float64
	n := 20000
	for i := 0; i < n; i++ {
		v := p.At(start.Add(time.Duration(i)*15*time.Second)) / 100
		sum += v
		sq += v * v
	}
	mean := sum / float64(n)
	sd := math.Sqrt(sq/float64(n) - mean*mean)
	if math.Abs(mean-1) > 0.01 || math.Abs(sd-0.1) > 0.01 {
		t.Errorf("noise mean %.4f sd %.4f, want 1 and 0.1", mean, sd)
	}
}

func autocorr(xs []float64, lag int) float64 {
	var mean float64
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	var num, den float64
	for i, x := range xs {
		den += (x - mean) * (x - mean)
		if i+lag < len(xs) {
			num += (x - mean) * (xs[i+lag] - mean)
		}
	}
	// Average each sum over its own number of terms so long lags are not biased down.
	return (num / float64(len(xs)-lag)) / (den / float64(len(xs)))
}

func BenchmarkAt(b *testing.B) {
	p := Default(100, 1)
	ts := start
	for b.Loop() {
		ts = ts.Add(time.Second)
		_ = p.At(ts)
	}
}
