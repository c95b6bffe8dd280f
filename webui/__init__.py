"""The web app: a Gradio UI over the Personalized Avatar Service, talking to the API only through the
`avatar_client` SDK (docs/webui.md)."""
