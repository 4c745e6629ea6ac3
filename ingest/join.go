package ingest

import "math"

// ComputeCrossCheck joins a declaration with the manifest of its bill of lading and returns the
// indicators targeting uses:
//   - WeightDeviation: |declared gross − manifest gross| / manifest gross, where the declared
//     gross is the items' gross weights (net weight for an item without one);
//   - OriginRouteMismatch: some item's origin is neither the loading port's country nor the
//     country of any transshipment port (goods routed through a third country to hide origin);
//   - UndeclaredContainers: containers on the manifest that the declaration does not list.
func ComputeCrossCheck(d *Declaration, m *Manifest) CrossCheck {
	c := CrossCheck{Joined: true}
	var gross float64
	for i := range d.Items {
		if g := d.Items[i].GrossWeightKg; g > 0 {
			gross += g
		} else {
			gross += d.Items[i].NetWeightKg
		}
	}
	if m.GrossWeightKg > 0 {
		c.WeightDeviation = math.Round(math.Abs(gross-m.GrossWeightKg)/m.GrossWeightKg*1e6) / 1e6
	}
	for i := range d.Items {
		o := d.Items[i].OriginCountry
		if o == "" || o == locodeCountry(m.LoadingPort) {
			continue
		}
		onRoute := false
		for _, p := range m.TransshipmentPorts {
			if locodeCountry(p) == o {
				onRoute = true
				break
			}
		}
		if !onRoute {
			c.OriginRouteMismatch = true
			break
		}
	}
	for _, mc := range m.Containers {
		declared := false
		for _, dc := range d.Containers {
			if dc == mc {
				declared = true
				break
			}
		}
		if !declared {
			c.UndeclaredContainers++
		}
	}
	return c
}

func locodeCountry(p string) string {
	if len(p) < 2 {
		return ""
	}
	return p[:2]
}
