from django.urls import path

from apps.chat.consumers import ClientConsumer

websocket_urlpatterns = [path("ws/", ClientConsumer.as_asgi())]
