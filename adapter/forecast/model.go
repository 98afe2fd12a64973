package forecast

// predictor is a fitted model running online. The forecaster's history ring
// already holds a step's value when advance is called with it; gaps arrive
// as the model's own one-step forecast (imputation), so they move the state
// without teaching the model anything.
type predictor interface {
	// kind names the model.
	kind() Model
	// advance moves the state past the next step, whose value is y.
	advance(y float64)
	// forecast writes the point forecasts for leads 1..len(out).
	forecast(out []float64)
	// stateBytes estimates the memory the model holds beyond the shared history.
	stateBytes() int
}

// reactive forecasts the last value at every lead: what a reactive autoscaler uses.
type reactive struct{ r *ring }

func (m *reactive) kind() Model     { return ModelReactive }
func (m *reactive) advance(float64) {}
func (m *reactive) stateBytes() int { return 16 }
func (m *reactive) forecast(out []float64) {
	v := m.r.back(0)
	for i := range out {
		out[i] = v
	}
}
