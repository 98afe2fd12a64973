package preview

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/foresight-dev/foresight/adapter/trace"
)

// Load is a load series at a one-minute step.
type Load struct {
	// Start is the time of the first value.
	Start time.Time
	// Values are the load per minute, in requests per second at the gateway.
	Values []float64
	// Source names where the load came from, for the PNG header.
	Source string
}

// ReadTrace reads a trace CSV (package trace: ts,value, any timestamp form it reads, any step), keeps
// its last minutes, resamples to one minute (a gap carries the previous value forward; a
// gap is not a zero) and scales it so that its 95th percentile is peak requests per second.
func ReadTrace(path string, minutes int, peak float64) (Load, error) {
	if minutes < 1 {
		return Load{}, fmt.Errorf("read trace %s: want at least 1 minute, got %d", path, minutes)
	}
	pts, err := trace.ReadFile(path)
	if err != nil {
		return Load{}, err
	}
	if len(pts) < 2 {
		return Load{}, fmt.Errorf("trace %s: fewer than 2 rows", path)
	}
	end := pts[len(pts)-1].TS / 60 * 60
	start := end - int64(minutes-1)*60
	if start < pts[0].TS {
		return Load{}, fmt.Errorf("trace %s spans less than %d minutes", path, minutes)
	}
	values := make([]float64, minutes)
	j := 0
	last := pts[0].Value
	for i := range values {
		t := start + int64(i)*60
		// Average the rows of this minute; with none, carry the last value forward.
		sum, n := 0.0, 0
		for j < len(pts) && pts[j].TS < t+60 {
			if pts[j].TS >= t {
				sum += pts[j].Value
				n++
			} else {
				last = pts[j].Value
			}
			j++
		}
		if n > 0 {
			last = sum / float64(n)
		}
		values[i] = last
	}
	if err := scale(values, peak); err != nil {
		return Load{}, fmt.Errorf("trace %s: %w", path, err)
	}
	return Load{Start: time.Unix(start, 0).UTC(), Values: values, Source: path}, nil
}

// Synthetic returns a generated diurnal load with noise and bursts, for when no trace
// is available.
func Synthetic(minutes int, peak float64) Load {
	rng := rand.New(rand.NewPCG(7, 11))
	values := make([]float64, minutes)
	for i := range values {
		day := float64(i%1440) / 1440
		v := 1 + 0.8*math.Sin(2*math.Pi*(day-0.3)) + 0.15*rng.NormFloat64()
		if i%997 < 20 {
			v *= 1.5
		}
		values[i] = math.Max(0.05, v)
	}
	_ = scale(values, peak) // generated values are finite and positive
	return Load{Start: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC), Values: values, Source: "synthetic diurnal load"}
}

// scale multiplies values so that their 95th percentile becomes peak.
func scale(values []float64, peak float64) error {
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	p95 := sorted[len(sorted)*95/100]
	if p95 <= 0 {
		p95 = 1
	}
	for i := range values {
		values[i] = values[i] / p95 * peak
		if math.IsInf(values[i], 0) || math.IsNaN(values[i]) {
			return fmt.Errorf("value %g does not scale to a finite load", sorted[len(sorted)-1])
		}
	}
	return nil
}
