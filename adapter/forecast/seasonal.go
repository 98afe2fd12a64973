package forecast

// seasonalNaive forecasts the value one season earlier, shifted by how much
// the recent level differs from the level one season earlier (the mean of the
// last `level` steps against the same window one season back).
type seasonalNaive struct {
	r      *ring
	period int
	level  int
}

// newSeasonalNaive returns a seasonal naive model on r. level is the length
// of the level-adjustment window in steps (at least 1, at most period/4).
func newSeasonalNaive(r *ring, period, level int) *seasonalNaive {
	level = max(1, min(level, period/4))
	return &seasonalNaive{r: r, period: period, level: level}
}

func (m *seasonalNaive) kind() Model     { return ModelSeasonalNaive }
func (m *seasonalNaive) advance(float64) {}
func (m *seasonalNaive) stateBytes() int { return 32 }

func (m *seasonalNaive) forecast(out []float64) {
	n := m.r.len()
	if n < m.period+m.level {
		v := m.r.back(0)
		for i := range out {
			out[i] = v
		}
		return
	}
	var now, then float64
	for k := 0; k < m.level; k++ {
		now += m.r.back(k)
		then += m.r.back(m.period + k)
	}
	adj := (now - then) / float64(m.level)
	for h := 1; h <= len(out); h++ {
		k := m.period - h
		for k < 0 {
			k += m.period
		}
		out[h-1] = m.r.back(k) + adj
	}
}
