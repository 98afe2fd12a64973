// Package forecast holds Foresight's forecasting models and the per-series
// forecaster that chooses among them. It is pure: no I/O, no clocks, no
// globals. Time enters only as the Unix-second timestamps of samples.
package forecast

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Model names a forecasting model, or "auto" for automatic choice.
type Model string

// Known models.
const (
	ModelAuto          Model = "auto"
	ModelReactive      Model = "reactive"
	ModelSeasonalNaive Model = "seasonal-naive"
	ModelHoltWinters   Model = "holt-winters"
	ModelARIMA         Model = "arima"
	ModelLinear        Model = "linear"
	ModelFourier       Model = "fourier"
)

// Settings configure how one series is forecast and served (DESIGN.md section 3).
type Settings struct {
	// Step is the spacing of samples. Required.
	Step time.Duration
	// Horizon is how far ahead the served value looks. Default 5m.
	Horizon time.Duration
	// Quantile is the upper quantile of the forecast distribution that is served. Default 0.9.
	Quantile float64
	// Model is the model to use, or ModelAuto. Default ModelAuto.
	Model Model
	// History is how much history is kept for fitting. Default 14 days.
	History time.Duration
	// RefitInterval is how often models are refit and re-chosen. Default 6h.
	RefitInterval time.Duration
	// NoReactiveFloor, when true, lets the served value drop below the last observed value.
	NoReactiveFloor bool
}

// Forecast is what a Forecaster serves after its latest sample.
type Forecast struct {
	// At is the Unix-second timestamp of the latest observed sample.
	At int64
	// Value is the served value: max over (At, At+Horizon] of the upper quantile,
	// floored at Observed unless the floor is off.
	Value float64
	// Observed is the latest observed value.
	Observed float64
	// Model is the model whose forecast is served ("reactive" while warming up or in fallback).
	Model Model
	// Fallback reports that drift or lack of skill made the forecaster serve the reactive value.
	Fallback bool
}

// Forecaster forecasts one series online. Samples are fed in time order with
// Observe; Serve returns the value to serve after the latest sample.
type Forecaster struct {
	s    Settings
	last float64
	at   int64
	seen bool
}

// NewForecaster validates s, applies defaults and returns a Forecaster.
func NewForecaster(s Settings) (*Forecaster, error) {
	if s.Step <= 0 {
		return nil, errors.New("forecast: step must be positive")
	}
	return &Forecaster{s: s}, nil
}

// Observe adds the sample v at Unix-second ts. Timestamps must increase;
// missing steps are gaps. Non-finite values are rejected.
func (f *Forecaster) Observe(ts int64, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("forecast: non-finite sample %v at ts %d", v, ts)
	}
	if f.seen && ts <= f.at {
		return fmt.Errorf("forecast: sample at ts %d is not after %d", ts, f.at)
	}
	f.last, f.at, f.seen = v, ts, true
	return nil
}

// Serve returns the served forecast after the latest sample.
func (f *Forecaster) Serve() Forecast {
	return Forecast{At: f.at, Value: f.last, Observed: f.last, Model: ModelReactive, Fallback: true}
}
