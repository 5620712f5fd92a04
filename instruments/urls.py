from django.urls import path

from instruments import views

app_name = "instruments"

urlpatterns = [
    path("", views.instrument_list, name="list"),
    path("import/", views.dictionary_upload, name="import"),
    path("<slug:slug>/", views.instrument_detail, name="detail"),
    path("<slug:slug>/v<int:number>/", views.instrument_preview, name="preview"),
    path(
        "<slug:slug>/v<int:number>/dictionary.csv",
        views.dictionary_download,
        name="dictionary",
    ),
    path(
        "<slug:slug>/v<int:number>/dictionary-for-redcap.csv",
        views.dictionary_round_trip,
        name="dictionary_round_trip",
    ),
]
