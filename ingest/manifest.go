package ingest

import "time"

// Manifest is the electronic-port cargo manifest (舱单) for one bill of lading. Ingest joins it
// to declarations on BillOfLading.
type Manifest struct {
	Schema             string    `json:"schema"`
	BillOfLading       string    `json:"bill_of_lading"`
	Carrier            string    `json:"carrier"`
	VesselIMO          string    `json:"vessel_imo"` // 7 digits with check digit
	Voyage             string    `json:"voyage"`
	LoadingPort        string    `json:"loading_port"` // UN/LOCODE, its first two letters a country
	TransshipmentPorts []string  `json:"transshipment_ports,omitempty"`
	Containers         []string  `json:"containers,omitempty"`
	GrossWeightKg      float64   `json:"gross_weight_kg"`
	Packages           int       `json:"packages"`
	ArrivalAt          time.Time `json:"arrival_at"`
	ReceivedAt         time.Time `json:"received_at,omitempty"`
}

// Withdrawal (撤单) cancels a declaration: open tasks for it are cancelled and it is not released.
type Withdrawal struct {
	Schema string    `json:"schema"`
	Number string    `json:"declaration_no"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// CrossCheck holds the indicators computed by joining a declaration with its manifest. A zero
// value with Joined false means no manifest was found within the join window.
type CrossCheck struct {
	Joined bool `json:"joined"`
	// WeightDeviation is |declared gross − manifest gross| / manifest gross.
	WeightDeviation float64 `json:"weight_deviation"`
	// OriginRouteMismatch: an item's origin differs from the loading-port country and from
	// every transshipment country.
	OriginRouteMismatch bool `json:"origin_route_mismatch"`
	// UndeclaredContainers counts containers on the manifest that the declaration does not list.
	UndeclaredContainers int `json:"undeclared_containers"`
}
