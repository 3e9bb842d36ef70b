"""The framework ceiling: the smallest FastAPI app (one route, a pydantic response), same uvicorn."""

from fastapi import FastAPI
from pydantic import BaseModel


class Out(BaseModel):
    status: str
    service: str


app = FastAPI()


@app.get("/")
async def root() -> Out:
    return Out(status="ok", service="fastapi")
