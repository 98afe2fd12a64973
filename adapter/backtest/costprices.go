package backtest

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/foresight-dev/foresight/adapter/trace"
)

// PricePoint is one row of a price series: from Unix second TS on, a replica
// costs Price dollars per hour (until the next row).
type PricePoint struct {
	// TS is the Unix-second timestamp from which the price holds.
	TS int64
	// Price is the price of one replica for one hour.
	Price float64
}

// ParsePriceCSV reads a price series in CSV form `ts,price` (the time, in
// the forms trace.Parse reads, then the price of one replica-hour), one row
// per line. A header line is allowed as the first line; blank lines are
// skipped, and a row with an empty price adds none (the price before it
// holds). Timestamps must be whole seconds and strictly increasing; prices
// must be finite and not negative. Errors name the source, line and field.
func ParsePriceCSV(r io.Reader, name string) ([]PricePoint, error) {
	rows, err := trace.ParseColumn(r, name, "price", func(p float64) string {
		if math.IsNaN(p) || math.IsInf(p, 0) || p < 0 {
			return "must be finite and not negative"
		}
		return ""
	})
	if err != nil {
		return nil, err
	}
	out := make([]PricePoint, len(rows))
	for i, row := range rows {
		out[i] = PricePoint{TS: row.TS, Price: row.Value}
	}
	return out, nil
}

// DayNightPrices returns an hourly price series over [start, end] in which a
// replica costs day dollars per hour from dayFrom to dayTo (hours of the day,
// UTC, dayFrom < dayTo) and night dollars per hour otherwise. The rows fall
// on whole hours, so the price changes exactly at dayFrom:00 and dayTo:00.
func DayNightPrices(start, end int64, day, night float64, dayFrom, dayTo int) ([]PricePoint, error) {
	if dayFrom < 0 || dayFrom >= dayTo || dayTo > 24 {
		return nil, fmt.Errorf("day/night prices: day hours [%d, %d) are not a range within a day", dayFrom, dayTo)
	}
	if end < start {
		return nil, fmt.Errorf("day/night prices: end %d is before start %d", end, start)
	}
	for _, p := range []float64{day, night} {
		if math.IsNaN(p) || math.IsInf(p, 0) || p < 0 {
			return nil, fmt.Errorf("day/night prices: price %v must be finite and not negative", p)
		}
	}
	first := start - (start%3600+3600)%3600
	out := make([]PricePoint, 0, (end-first)/3600+1)
	for ts := first; ts <= end; ts += 3600 {
		h := int((ts%86400+86400)%86400) / 3600
		p := night
		if h >= dayFrom && h < dayTo {
			p = day
		}
		out = append(out, PricePoint{TS: ts, Price: p})
	}
	return out, nil
}

// MixSpotPrices returns the average replica price when share of the replicas
// run on spot capacity: share*spot + (1-share)*onDemand at every timestamp of
// either series (each holds its last price; before its first row, its first).
func MixSpotPrices(spot, onDemand []PricePoint, share float64) ([]PricePoint, error) {
	if len(spot) == 0 || len(onDemand) == 0 {
		return nil, errors.New("spot prices: both the spot and the on-demand series need rows")
	}
	if !(share >= 0 && share <= 1) {
		return nil, fmt.Errorf("spot prices: spot share %v must be in [0, 1]", share)
	}
	var out []PricePoint
	i, j := 0, 0
	for i < len(spot) || j < len(onDemand) {
		var ts int64
		switch {
		case j >= len(onDemand) || (i < len(spot) && spot[i].TS <= onDemand[j].TS):
			ts = spot[i].TS
		default:
			ts = onDemand[j].TS
		}
		for i < len(spot) && spot[i].TS <= ts {
			i++
		}
		for j < len(onDemand) && onDemand[j].TS <= ts {
			j++
		}
		s, o := spot[max(i-1, 0)].Price, onDemand[max(j-1, 0)].Price
		out = append(out, PricePoint{TS: ts, Price: share*s + (1-share)*o})
	}
	return out, nil
}

// priceCursor looks up a price series as a step function at increasing times.
type priceCursor struct {
	points []PricePoint
	next   int
}

// at returns the price at ts: the latest row at or before ts, or the first
// row's price before it. Calls must come with non-decreasing ts.
func (c *priceCursor) at(ts int64) float64 {
	for c.next < len(c.points) && c.points[c.next].TS <= ts {
		c.next++
	}
	return c.points[max(c.next-1, 0)].Price
}

// hours converts seconds to hours.
func hours(seconds int64) float64 { return float64(seconds) / float64(time.Hour/time.Second) }
