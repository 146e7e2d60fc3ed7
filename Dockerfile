FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir . \
 && python manage.py collectstatic --noinput
EXPOSE 8000
CMD ["gunicorn", "erp_aftersales.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
