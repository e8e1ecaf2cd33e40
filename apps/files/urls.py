from django.urls import path

from apps.files import api

app_name = "files_api"

urlpatterns = [
    path("files/", api.FileUploadApi.as_view(), name="files"),
    path("files/quarantine/", api.QuarantineApi.as_view(), name="quarantine"),
    path("files/usage/", api.UsageApi.as_view(), name="usage"),
    path("files/<uuid:attachment_id>/", api.FileDetailApi.as_view(), name="file"),
    path("files/<uuid:attachment_id>/download", api.FileDownloadApi.as_view(), name="download"),
    path("files/<uuid:attachment_id>/preview", api.FilePreviewApi.as_view(), name="preview"),
    path("files/<uuid:attachment_id>/thumbnail", api.FileThumbnailApi.as_view(), name="thumbnail"),
    path("files/<uuid:attachment_id>/rescan", api.FileRescanApi.as_view(), name="rescan"),
    path("files/<uuid:attachment_id>/release", api.FileReleaseApi.as_view(), name="release"),
    path("uploads/", api.UploadSessionApi.as_view(), name="uploads"),
    path(
        "uploads/<uuid:session_id>/chunks/<id:index>",
        api.UploadChunkApi.as_view(),
        name="upload-chunk",
    ),
    path(
        "uploads/<uuid:session_id>/complete",
        api.UploadCompleteApi.as_view(),
        name="upload-complete",
    ),
    path("channels/<id:channel_id>/files/", api.ChannelFilesApi.as_view(), name="channel-files"),
]
