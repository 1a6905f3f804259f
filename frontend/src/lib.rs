//! The browser entry point: hydrates the server-rendered page.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Release bundles leave the panic hook out: it costs more than the 300 KB (brotli) budget
    // allows, and a release panic still stops the app with the browser's own error.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
