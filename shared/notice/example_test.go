package notice_test

import (
	"fmt"

	"breachnotify/shared/notice"
)

func ExampleRender() {
	m, err := notice.Render("update-app", "es_MX", notice.Data{
		Name:         "Ana",
		FixedVersion: "8.9.0",
		Platform:     "ios",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Locale)
	fmt.Println(m.Email.Subject)
	fmt.Println(m.Push.Title)
	// Output:
	// es
	// Actualización de seguridad: instala la versión 8.9.0 o posterior de la aplicación de Acme
	// Actualización de seguridad de Acme
}
