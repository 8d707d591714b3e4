package publicpage

import (
	"fmt"
	"time"

	"breachnotify/shared/incident"
)

// words are a page's fixed wording in one language: plain sentences, each
// with at most one date or name to fill in (%s).
type words struct {
	Language string // the language's own name
	heading  string // the h1, with the brand

	StatusLabel, Ongoing, Done string
	Reference, Updated         string

	Happened, Detected, Confirmed string
	IncidentTitle                 string

	WhatData string

	WhatDid, DidConfirm, DidNotify, DidNotifyDone, DidAuthority, DidContinue string
	Channel                                                                  map[incident.Channel]string
	And                                                                      string

	WhatToDo string

	ContactHeading, ContactAt, ContactApp string

	Timeline, NoUpdates string

	months [12]string
	format string // day, month name, year, time
}

// Heading is the page's h1 for brand.
func (w words) Heading(brand string) string { return fmt.Sprintf(w.heading, brand) }

func (w words) date(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf(w.format, t.Day(), w.months[t.Month()-1], t.Year(), t.Format("15:04"))
}

var lang = map[string]words{
	"en": {
		Language: "English", heading: "Security notice from %s",
		StatusLabel: "Status:", Ongoing: "In progress: we are telling the people affected.", Done: "Notified: we have told the people affected.",
		Reference: "Reference:", Updated: "Last updated:",
		Happened: "What happened", Detected: "We detected the incident on %s.", Confirmed: "We confirmed it on %s.",
		IncidentTitle: "Incident:",
		WhatData:      "What data is involved",
		WhatDid:       "What we have done", DidConfirm: "We investigated and confirmed the incident.",
		DidNotify: "Since %s we have been telling each person affected individually", DidNotifyDone: "We told each person affected individually; we finished on %s.",
		DidAuthority: "We reported the incident to the data protection authority on %s.",
		DidContinue:  "We will update this page as we learn more.",
		Channel:      map[incident.Channel]string{incident.Email: "by email", incident.Push: "by a notification in our app"}, And: " and ",
		WhatToDo:       "What you should do",
		ContactHeading: "Contact", ContactAt: "If you have questions, contact us: %s.", ContactApp: "If you have questions, contact our support team through the %s app.",
		Timeline: "Updates", NoUpdates: "No updates yet.",
		months: [12]string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
		format: "%d %s %d, %s UTC",
	},
	"es": {
		Language: "Español", heading: "Aviso de seguridad de %s",
		StatusLabel: "Estado:", Ongoing: "En curso: estamos avisando a las personas afectadas.", Done: "Avisado: hemos avisado a las personas afectadas.",
		Reference: "Referencia:", Updated: "Última actualización:",
		Happened: "Qué ha pasado", Detected: "Detectamos el incidente el %s.", Confirmed: "Lo confirmamos el %s.",
		IncidentTitle: "Incidente:",
		WhatData:      "Qué datos están afectados",
		WhatDid:       "Qué hemos hecho", DidConfirm: "Investigamos y confirmamos el incidente.",
		DidNotify: "Desde el %s estamos avisando individualmente a cada persona afectada", DidNotifyDone: "Avisamos individualmente a cada persona afectada; terminamos el %s.",
		DidAuthority: "Comunicamos el incidente a la autoridad de protección de datos el %s.",
		DidContinue:  "Actualizaremos esta página a medida que sepamos más.",
		Channel:      map[incident.Channel]string{incident.Email: "por correo electrónico", incident.Push: "con una notificación en nuestra aplicación"}, And: " y ",
		WhatToDo:       "Qué te recomendamos hacer",
		ContactHeading: "Contacto", ContactAt: "Si tienes preguntas, ponte en contacto con nosotros: %s.", ContactApp: "Si tienes preguntas, ponte en contacto con nuestro equipo de soporte desde la aplicación de %s.",
		Timeline: "Novedades", NoUpdates: "Todavía no hay novedades.",
		months: [12]string{"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"},
		format: "%d de %s de %d, %s UTC",
	},
	"de": {
		Language: "Deutsch", heading: "Sicherheitshinweis von %s",
		StatusLabel: "Stand:", Ongoing: "Laufend: Wir informieren die Betroffenen.", Done: "Informiert: Wir haben die Betroffenen informiert.",
		Reference: "Referenz:", Updated: "Zuletzt aktualisiert:",
		Happened: "Was ist passiert", Detected: "Wir haben den Vorfall am %s festgestellt.", Confirmed: "Wir haben ihn am %s bestätigt.",
		IncidentTitle: "Vorfall:",
		WhatData:      "Welche Daten betroffen sind",
		WhatDid:       "Was wir getan haben", DidConfirm: "Wir haben den Vorfall untersucht und bestätigt.",
		DidNotify: "Seit dem %s informieren wir jede betroffene Person einzeln", DidNotifyDone: "Wir haben jede betroffene Person einzeln informiert; abgeschlossen am %s.",
		DidAuthority: "Wir haben den Vorfall am %s der Datenschutzaufsichtsbehörde gemeldet.",
		DidContinue:  "Wir aktualisieren diese Seite, sobald wir mehr wissen.",
		Channel:      map[incident.Channel]string{incident.Email: "per E-Mail", incident.Push: "mit einer Benachrichtigung in unserer App"}, And: " und ",
		WhatToDo:       "Was Sie jetzt tun sollten",
		ContactHeading: "Kontakt", ContactAt: "Bei Fragen erreichen Sie uns hier: %s.", ContactApp: "Bei Fragen erreichen Sie unseren Support direkt über die App von %s.",
		Timeline: "Aktuelles", NoUpdates: "Noch keine Aktualisierungen.",
		months: [12]string{"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"},
		format: "%d. %s %d, %s UTC",
	},
}
