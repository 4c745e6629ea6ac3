package targeting

import "github.com/portguard/portguard/ingest"

// A decision is encoded at least twice on the synchronous path — into the outbox journal and
// into the HTTP answer — so it is written by hand rather than by reflection. The bytes are
// exactly encoding/json's for the same struct (TestDecisionJSONMatchesEncodingJSON).

// MarshalJSON writes the decision's wire form.
func (d Decision) MarshalJSON() ([]byte, error) { return d.AppendJSON(make([]byte, 0, 2048)) }

// AppendJSON appends the decision's wire form to b. Like encoding/json it fails on a NaN or
// infinite number and on a time outside RFC 3339.
func (d *Decision) AppendJSON(b []byte) ([]byte, error) {
	var w ingest.JSONWriter
	w.Reset(b)
	w.Raw(`{"schema":`)
	w.String(d.Schema)
	w.Raw(`,"declaration_no":`)
	w.String(d.DeclarationNo)
	w.Raw(`,"version":`)
	w.Int(d.Version)
	w.Raw(`,"port":`)
	w.String(d.Port)
	w.Raw(`,"importer":`)
	w.String(d.Importer)
	w.Raw(`,"channel":`)
	w.String(string(d.Channel))
	w.Raw(`,"action":`)
	w.String(string(d.Action))
	w.Raw(`,"selection":`)
	w.String(string(d.Selection))
	w.Raw(`,"score":`)
	w.Float(d.Score)
	w.Raw(`,"probability":`)
	w.Float(d.Probability)
	w.Raw(`,"random":`)
	w.Bool(d.Random)
	w.Raw(`,"propensity":`)
	w.Float(d.Propensity)
	w.Raw(`,"model_version":`)
	w.String(d.ModelVersion)
	if len(d.RulesFired) > 0 {
		w.Raw(`,"rules_fired":[`)
		for i := range d.RulesFired {
			h := &d.RulesFired[i]
			if i > 0 {
				w.Raw(",")
			}
			w.Raw(`{"id":`)
			w.String(h.ID)
			w.Raw(`,"version":`)
			w.Int(h.Version)
			w.Raw(`,"title":`)
			w.String(h.Title)
			w.Raw(`,"action":`)
			w.String(string(h.Action))
			w.Raw(`,"selected":`)
			w.Bool(h.Selected)
			w.Raw("}")
		}
		w.Raw("]")
	}
	w.Raw(`,"reasons":`)
	if d.Reasons == nil {
		w.Raw("null")
	} else {
		w.Raw("[")
		for i := range d.Reasons {
			r := &d.Reasons[i]
			if i > 0 {
				w.Raw(",")
			}
			w.Raw(`{"code":`)
			w.String(r.Code)
			w.Raw(`,"zh":`)
			w.String(r.ZH)
			w.Raw(`,"en":`)
			w.String(r.EN)
			w.Raw(`,"weight":`)
			w.Float(r.Weight)
			w.Raw("}")
		}
		w.Raw("]")
	}
	if len(d.Features) > 0 {
		w.Raw(`,"features":[`)
		for i := range d.Features {
			if i > 0 {
				w.Raw(",")
			}
			w.Raw(`{"n":`)
			w.String(d.Features[i].Name)
			w.Raw(`,"v":`)
			w.String(d.Features[i].Value)
			w.Raw("}")
		}
		w.Raw("]")
	}
	w.Raw(`,"degraded":`)
	w.Bool(d.Degraded)
	w.Raw(`,"decided_at":`)
	w.Time(d.DecidedAt)
	if s := d.Shadow; s != nil {
		w.Raw(`,"shadow":{"model_version":`)
		w.String(s.ModelVersion)
		w.Raw(`,"score":`)
		w.Float(s.Score)
		w.Raw(`,"probability":`)
		w.Float(s.Probability)
		w.Raw(`,"selected":`)
		w.Bool(s.Selected)
		w.Raw(`,"champion_selected":`)
		w.Bool(s.ChampionSelected)
		w.Raw("}")
	}
	if d.AwaitingManifest {
		w.Raw(`,"awaiting_manifest":true`)
	}
	if d.Revision != 0 {
		w.Raw(`,"revision":`)
		w.Int(d.Revision)
	}
	if d.RevisedFrom != "" {
		w.Raw(`,"revised_from":`)
		w.String(string(d.RevisedFrom))
	}
	w.Raw("}")
	out, err := w.Bytes()
	if err != nil {
		return b, err
	}
	return out, nil
}
